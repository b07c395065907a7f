using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Benchmarks;

/// <summary>Finds the repository's devicemodels/ folder and boots platforms from it.</summary>
internal static class ModelFiles
{
    public static string Path(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "devicemodels", file);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"devicemodels/{file} not found above {AppContext.BaseDirectory}");
    }

    public static PcieSystem Boot(string file)
    {
        var system = PcieSystem.Boot(PlatformModel.Load(Path(file)).GetModelOrThrow());
        foreach (var h in system.Hosts)
            if (h.Enumeration is { Succeeded: false } r)
                throw new InvalidOperationException($"{file}: enumeration failed: {string.Join("; ", r.Failures)}");
        return system;
    }
}
