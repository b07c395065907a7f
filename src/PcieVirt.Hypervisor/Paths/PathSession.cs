using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// One path booted and set up (host driver, VM, IOMMU, VMFS, ring or emulated controller, as the path
/// needs) with its workload ready on the discrete-event engine. <see cref="Run"/> runs the measured phase
/// the options ask for, as <see cref="PathBench.Run"/> does; <see cref="RunOps"/> then runs further measured
/// phases on the same system without booting again, so the simulator's own cost per simulated I/O can be
/// measured in steady state.
/// </summary>
public sealed class PathSession
{
    readonly SimEngine _engine;
    readonly BlockWorkload _workload;
    readonly CpuTimeline _cpu;
    readonly IReadOnlyList<CpuTimeline> _hostThreads;
    readonly Func<IReadOnlyDictionary<string, long>> _counters;
    readonly Func<string> _stalled;
    readonly Func<bool> _done;
    bool _started;

    /// <summary>
    /// A session running <paramref name="workload"/> on <paramref name="engine"/>; <paramref name="counters"/>
    /// reads the path's own counters, <paramref name="stalled"/> describes the path's state when the
    /// simulation stops with requests outstanding.
    /// </summary>
    internal PathSession(PathKind kind, SimEngine engine, BlockWorkload workload, CpuTimeline cpu, IReadOnlyList<CpuTimeline> hostThreads,
        Func<IReadOnlyDictionary<string, long>> counters, Func<string> stalled)
    {
        Kind = kind;
        _engine = engine;
        _workload = workload;
        _cpu = cpu;
        _hostThreads = hostThreads;
        _counters = counters;
        _stalled = stalled;
        _done = () => _workload.IsDone; // one delegate for every phase: running a phase allocates nothing for it
    }

    /// <summary>The path this session runs.</summary>
    public PathKind Kind { get; }

    /// <summary>Runs the workload the options describe (with its verify prefill, if any) and returns what it measured. Once.</summary>
    public PathResult Run()
    {
        if (_started) throw new InvalidOperationException($"the {Kind.Key()} session has already run its workload; use RunOps for more");
        _started = true;
        _workload.Start();
        RunPhase();
        return Result();
    }

    /// <summary>
    /// After <see cref="Run"/>: runs <paramref name="ops"/> more requests of the same workload on the same
    /// system as a new measured phase (<see cref="Result"/> then reports that phase).
    /// </summary>
    public void RunOps(int ops)
    {
        if (!_started) throw new InvalidOperationException($"the {Kind.Key()} session has not run its workload yet; call Run first");
        _workload.Continue(ops);
        RunPhase();
    }

    /// <summary>What the last measured phase gave.</summary>
    public PathResult Result() => PathBench.Collect(Kind, _workload, _cpu, _hostThreads, _counters());

    void RunPhase()
    {
        if (!_engine.RunUntil(_done)) throw new InvalidOperationException(_stalled());
    }
}
