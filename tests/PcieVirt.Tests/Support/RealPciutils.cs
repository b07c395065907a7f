using System.Diagnostics;

namespace PcieVirt.Tests.Support;

/// <summary>
/// The real pciutils 3.9.0 (<c>/usr/bin/lspci</c>, <c>/usr/bin/setpci</c>), our independent reference:
/// run on dump files of our config bytes (<c>lspci -F</c>, <c>setpci -A dump</c>), in the C locale, with
/// stdout, stderr and the exit code captured.
/// </summary>
internal static class RealPciutils
{
    public const string LspciPath = "/usr/bin/lspci";
    public const string SetpciPath = "/usr/bin/setpci";

    public static bool LspciInstalled => File.Exists(LspciPath);
    public static bool SetpciInstalled => File.Exists(SetpciPath);

    /// <summary>
    /// Ignores the calling test (the whole fixture when called from a one-time set-up) when pciutils is
    /// not installed; CI installs it. Both tools come from the one package, so both are required.
    /// </summary>
    public static void IgnoreUnlessInstalled()
    {
        if (!LspciInstalled || !SetpciInstalled)
            Assert.Ignore("pciutils is not installed (apt-get install pciutils); interop with the real tools skipped");
    }

    /// <summary><c>lspci -F DUMP ARGS</c>: the real decoder on our config bytes; it must succeed.</summary>
    public static string Lspci(string dumpFile, params string[] args)
    {
        var r = Run(LspciPath, ["-F", dumpFile, .. args]);
        Assert.That(r.Exit, Is.EqualTo(0), () => $"real lspci failed: {r.Err}");
        return r.Out;
    }

    /// <summary>
    /// <c>setpci -A dump -O dump.name=DUMP ARGS</c>: the real setpci on our config bytes. The dump access
    /// method cannot write, so writes are only shown (<c>-D</c>).
    /// </summary>
    public static (int Exit, string Out, string Err) Setpci(string dumpFile, params string[] args) =>
        Run(SetpciPath, ["-A", "dump", "-O", $"dump.name={dumpFile}", .. args]);

    /// <summary><c>setpci --dumpregs</c>: the real tool's table of register names; it must succeed.</summary>
    public static string SetpciDumpRegs()
    {
        var r = Run(SetpciPath, ["--dumpregs"]);
        Assert.That(r.Exit, Is.EqualTo(0), () => $"real setpci failed: {r.Err}");
        return r.Out;
    }

    static (int Exit, string Out, string Err) Run(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Messages and number formats as the tests expect them, whatever the machine's locale.
        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        // Read stdout asynchronously while draining stderr: a child blocked on one full pipe while we
        // wait on the other would never exit.
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        // lspci warns about kernel module data it cannot load in containers; that is not our output.
        var err = string.Join("", stderr.Split('\n').Where(l => l.Length > 0 && !l.Contains("libkmod", StringComparison.Ordinal)).Select(l => l + "\n"));
        return (p.ExitCode, stdout.Result, err);
    }
}
