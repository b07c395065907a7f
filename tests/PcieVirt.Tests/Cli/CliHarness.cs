using System.Diagnostics;
using System.Text.RegularExpressions;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli;

/// <summary>What one in-process <c>pcievirt</c> run returned and printed.</summary>
internal readonly record struct CliResult(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs the CLI in-process through <c>Program.Run</c> with string streams.</summary>
internal static partial class Pcievirt
{
    public static CliResult Run(params string[] args) => RunWithInput("", args);

    public static CliResult RunWithInput(string stdin, params string[] args)
    {
        var o = new StringWriter { NewLine = "\n" };
        var e = new StringWriter { NewLine = "\n" };
        int rc = PcieVirt.Cli.Program.Run(args, new StringReader(stdin), o, e);
        return new CliResult(rc, o.ToString(), e.ToString());
    }

    /// <summary>Runs shell lines (joined by newlines) on stdin against one live platform.</summary>
    public static CliResult Shell(string[] modelArgs, params string[] lines) =>
        RunWithInput(string.Join('\n', lines) + "\n", [.. modelArgs, "shell"]);

    public static string Fabric4x8 => ModelFiles.DeviceModel("fabric-4x8.json");

    /// <summary>A model file of these tests (tests/PcieVirt.Tests/Cli/Models).</summary>
    public static string TestModel(string name) => Path.Combine(ModelFiles.RepoRoot, "tests", "PcieVirt.Tests", "Cli", "Models", name);

    public static string Script(string name) => Path.Combine(ModelFiles.RepoRoot, "devicemodels", "scripts", name);

    /// <summary>
    /// Our live lspci annotates BARs and ROMs with the sizes firmware found (a live lspci reads them
    /// from sysfs); lspci -F on a dump cannot know them. Removes exactly those annotations.
    /// </summary>
    public static string WithoutSizes(string lspciOutput) => SizeAnnotation().Replace(lspciOutput, "$1");

    [GeneratedRegex(@"^(\t(?:Region \d+: |Memory at |I/O ports at |Expansion ROM |\[virtual\] ).*?) \[size=[0-9]+[KMGT]?\]$", RegexOptions.Multiline)]
    private static partial Regex SizeAnnotation();
}

/// <summary>The real pciutils 3.9.0 (<c>/usr/bin/lspci</c>, <c>/usr/bin/setpci</c>), run on dump files.</summary>
internal static class RealPciutils
{
    public const string Lspci = "/usr/bin/lspci";
    public const string Setpci = "/usr/bin/setpci";

    /// <summary>Ignores the calling test when pciutils is not installed (CI installs it).</summary>
    public static void RequireOrIgnore()
    {
        if (!File.Exists(Lspci) || !File.Exists(Setpci))
            Assert.Ignore("pciutils is not installed (apt-get install pciutils); interop with the real tools skipped");
    }

    /// <summary><c>lspci -F DUMP ARGS</c>: the real decoder on our config bytes.</summary>
    public static string LspciOnDump(string dumpFile, params string[] args)
    {
        var r = Run(Lspci, ["-F", dumpFile, .. args]);
        Assert.That(r.ExitCode, Is.EqualTo(0), () => $"real lspci failed: {r.Err}");
        return r.Out;
    }

    /// <summary><c>setpci -A dump -O dump.name=DUMP ARGS</c>: the real setpci on our config bytes (reads only).</summary>
    public static CliResult SetpciOnDump(string dumpFile, params string[] args) =>
        Run(Setpci, ["-A", "dump", "-O", $"dump.name={dumpFile}", .. args]);

    static CliResult Run(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        // lspci warns about kernel module data it cannot load in containers; that is not our output.
        var err = string.Join("", stderr.Split('\n').Where(l => l.Length > 0 && !l.Contains("libkmod", StringComparison.Ordinal)).Select(l => l + "\n"));
        return new CliResult(p.ExitCode, stdout.Result, err);
    }
}
