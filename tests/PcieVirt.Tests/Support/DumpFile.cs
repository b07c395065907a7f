namespace PcieVirt.Tests.Support;

/// <summary>
/// A config dump (text in the format of <c>lspci -xxxx</c>) written to a temporary file of its own, for
/// the real tools to read (<see cref="RealPciutils"/>); the file is deleted on <see cref="Dispose"/>.
/// </summary>
internal sealed class DumpFile : IDisposable
{
    public DumpFile(string text)
    {
        // Unique per instance: fixtures of one run, and runs of several worktrees, share the temp folder.
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"pcievirt-dump-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        File.WriteAllText(Path, text);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
