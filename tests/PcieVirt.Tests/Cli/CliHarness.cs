using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli;

/// <summary>What one in-process <c>pcievirt</c> run returned and printed.</summary>
internal readonly record struct CliResult(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs the CLI in-process through <c>Program.Run</c> with string streams.</summary>
internal static class Pcievirt
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
}
