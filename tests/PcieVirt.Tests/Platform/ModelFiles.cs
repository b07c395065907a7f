namespace PcieVirt.Tests.Platform;

/// <summary>Locates model files in the repository (devicemodels/, tests' Models/) from the test binaries.</summary>
internal static class ModelFiles
{
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "PcieVirt.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("repository root (PcieVirt.sln) not found above the test directory");
        }
    }

    public static string DeviceModel(string name) => Path.Combine(RepoRoot, "devicemodels", name);

    public static string TestModel(string name) => Path.Combine(RepoRoot, "tests", "PcieVirt.Tests", "Platform", "Models", name);

    /// <summary>1-based line of the first line of <paramref name="path"/> containing <paramref name="text"/>.</summary>
    public static int LineOf(string path, string text)
    {
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Contains(text, StringComparison.Ordinal)) return i + 1;
        throw new InvalidOperationException($"'{text}' not found in {path}");
    }
}
