using SharpFuzz;

namespace PcieVirt.FuzzTargets;

/// <summary>
/// Entry point: <c>PcieVirt.FuzzTargets TARGET</c> runs TARGET under AFL++ (SharpFuzz persistent mode, the input
/// on stdin or in AFL++'s shared memory); <c>PcieVirt.FuzzTargets TARGET FILE...</c> runs files once;
/// <c>PcieVirt.FuzzTargets replay DIR</c> runs every file of DIR/TARGET/ with its target (no AFL++ needed).
/// </summary>
public static class Program
{
    /// <summary>The target names.</summary>
    public static readonly string[] Targets = ["config", "nvme", "model"];

    /// <summary>A new target by name.</summary>
    public static IFuzzTarget Create(string name) => name switch
    {
        "config" => new ConfigTarget(),
        "nvme" => new NvmeTarget(),
        "model" => new ModelTarget(),
        _ => throw new ArgumentException($"unknown target '{name}' (expected {string.Join(", ", Targets)})", nameof(name)),
    };

    /// <summary>Runs every corpus file under <paramref name="directory"/>/TARGET/ once; returns the failures.</summary>
    public static IReadOnlyList<string> Replay(string directory, TextWriter? output = null)
    {
        var failures = new List<string>();
        foreach (var name in Targets)
        {
            string dir = Path.Combine(directory, name);
            if (!Directory.Exists(dir)) continue;
            var target = Create(name);
            var files = Directory.GetFiles(dir);
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var file in files)
            {
                try { target.Run(File.ReadAllBytes(file)); }
                catch (Exception e) { failures.Add($"{name}/{Path.GetFileName(file)}: {e.Message}"); }
            }
            output?.WriteLine($"{name}: {files.Length} inputs replayed");
        }
        return failures;
    }

    /// <summary>Parses the arguments and runs.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: PcieVirt.FuzzTargets (config|nvme|model) [FILE...] | replay DIR");
            return 2;
        }
        if (args[0] == "replay")
        {
            if (args.Length != 2) { Console.Error.WriteLine("usage: PcieVirt.FuzzTargets replay DIR"); return 2; }
            var failures = Replay(args[1], Console.Out);
            foreach (var f in failures) Console.Error.WriteLine(f);
            Console.WriteLine($"{failures.Count} failures");
            return failures.Count == 0 ? 0 : 1;
        }
        string name = args[0];
        if (Array.IndexOf(Targets, name) < 0) { Console.Error.WriteLine($"unknown target '{name}' (expected {string.Join(", ", Targets)})"); return 2; }
        if (args.Length > 1)
        {
            var once = Create(name);
            foreach (var file in args.Skip(1)) once.Run(File.ReadAllBytes(file));
            return 0;
        }
        // Persistent mode: the target (and the platform it built) lives across inputs. It is created inside the
        // loop because instrumented code may only run once SharpFuzz has mapped AFL++'s coverage memory; before
        // that, the first instrumented branch faults with an AccessViolationException.
        IFuzzTarget? target = null;
        Fuzzer.Run(stream =>
        {
            target ??= Create(name);
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            target.Run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        });
        return 0;
    }
}
