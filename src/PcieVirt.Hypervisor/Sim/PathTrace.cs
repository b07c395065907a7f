using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Sim;

/// <summary>One step of one I/O on one track (a vCPU, a hypervisor thread, the device): what ran, from when, for how long.</summary>
/// <param name="StartNs">Virtual time it started.</param>
/// <param name="DurationNs">How long it took.</param>
/// <param name="Track">Where it ran ("vcpu0", "vmm", "iothread", "device", "interrupt").</param>
/// <param name="Component">Which cost it is.</param>
/// <param name="Slot">The workload slot (request) it was for, or -1.</param>
public readonly record struct TraceSpan(ulong StartNs, ulong DurationNs, string Track, IoComponent Component, int Slot);

/// <summary>
/// A record of every costed step of a run, in the order they were charged, for people to look at (the
/// sequence of an I/O on each path) and for trace files. Off unless a path is given one; recording
/// allocates, so benchmarks run without it.
/// </summary>
public sealed class PathTrace
{
    readonly List<TraceSpan> _spans = [];

    /// <summary>The most spans kept (a long run keeps its beginning).</summary>
    public int Capacity { get; init; } = 1_000_000;

    /// <summary>Spans in the order they were recorded.</summary>
    public IReadOnlyList<TraceSpan> Spans => _spans;

    /// <summary>Records a span.</summary>
    public void Add(ulong startNs, ulong durationNs, string track, IoComponent component, int slot)
    {
        if (_spans.Count < Capacity) _spans.Add(new TraceSpan(startNs, durationNs, track, component, slot));
    }

    /// <summary>Forgets what was recorded (a new measurement phase).</summary>
    public void Clear() => _spans.Clear();
}
