using BenchmarkDotNet.Attributes;
using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Platform.Model;

namespace PcieVirt.Benchmarks;

/// <summary>
/// The simulator's own host CPU cost of one simulated 4 KiB random read at queue depth 1 on each I/O path
/// of <c>pcievirt bench paths</c>, in steady state: each path is booted and set up once (default model,
/// drives shrunk to 64 MiB so setup is quick), warmed up, and every invocation runs <see cref="Ops"/> more
/// reads on the same system through the discrete-event engine. The emulated path costs more host time than
/// the VF path because the simulator really does more for it: it decodes each trapped access with Iced,
/// emulates it, runs the VMM thread, maps through VMFS and copies through the host block layer. Compared
/// with a plain 4 KiB memory copy in the same run.
/// </summary>
[MemoryDiagnoser]
public class PathBenchmarks
{
    const int Ops = 1000;
    readonly byte[] _src = new byte[4096], _dst = new byte[4096];
    PathSession _bareMetal = null!, _vf = null!, _paravirtual = null!, _emulated = null!;

    [GlobalSetup]
    public void Setup()
    {
        string json = PlatformModel.ReadDefaultJson().Replace("\"driveSize\": \"1T\"", "\"driveSize\": \"64M\"");
        var model = PlatformModel.Parse(json, "path-bench").GetModelOrThrow();
        var options = new PathOptions
        {
            Workload = new WorkloadOptions { Pattern = WorkloadPattern.RandRead, BlockSize = 4096, IoDepth = 1, Ops = Ops, Seed = 1 },
        };
        _bareMetal = Open(PathKind.BareMetal, model, options);
        _vf = Open(PathKind.Vf, model, options);
        _paravirtual = Open(PathKind.Paravirtual, model, options);
        _emulated = Open(PathKind.Emulated, model, options);
        new Random(7).NextBytes(_src);
    }

    static PathSession Open(PathKind kind, PlatformModel model, PathOptions options)
    {
        var session = PathBench.Open(kind, model, options);
        var first = session.Run();
        session.RunOps(Ops);
        var steady = session.Result();
        if (first.Workload.Errors != 0 || steady.Workload.Errors != 0 || steady.Workload.Ops != Ops)
            throw new InvalidOperationException($"{kind.Key()}: {steady.Workload.Ops} reads, {first.Workload.Errors + steady.Workload.Errors} errors");
        return session;
    }

    [Benchmark(Baseline = true, Description = "4 KiB memory copy")]
    public void MemoryCopy4KiB() => _src.AsSpan().CopyTo(_dst);

    [Benchmark(OperationsPerInvoke = Ops, Description = "bare metal: 4 KiB randread QD1, per simulated I/O")]
    public void BareMetal() => _bareMetal.RunOps(Ops);

    [Benchmark(OperationsPerInvoke = Ops, Description = "VF assigned: 4 KiB randread QD1, per simulated I/O")]
    public void Vf() => _vf.RunOps(Ops);

    [Benchmark(OperationsPerInvoke = Ops, Description = "paravirtual: 4 KiB randread QD1, per simulated I/O")]
    public void Paravirtual() => _paravirtual.RunOps(Ops);

    [Benchmark(OperationsPerInvoke = Ops, Description = "emulated: 4 KiB randread QD1, per simulated I/O")]
    public void Emulated() => _emulated.RunOps(Ops);
}
