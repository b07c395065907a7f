namespace PcieVirt.Hypervisor.Sim;

/// <summary>
/// One event of an <see cref="EventTrace"/>: a step with a duration (a command from fetch to completion,
/// a media access) or an instant (a TLP on the link, a config write), on a named track.
/// </summary>
/// <param name="StartNs">Virtual time it started (or happened, for an instant).</param>
/// <param name="DurationNs">How long it took; 0 for an instant.</param>
/// <param name="Track">Where it happened ("01:00.0 config", "01:00.0 sq1", …): one row of the timeline.</param>
/// <param name="Name">What it was ("CfgWr0", "MWr", "read").</param>
/// <param name="Category">A group to filter by ("tlp", "nvme").</param>
/// <param name="Instant">True for an instant event (no duration).</param>
/// <param name="Detail">Readable particulars (address, length, status, …), or null.</param>
public readonly record struct TraceEvent(ulong StartNs, ulong DurationNs, string Track, string Name, string Category, bool Instant, string? Detail);

/// <summary>
/// A record of events of any kind for trace files, for runs that are not an I/O path (the <c>io</c> and
/// <c>shell</c> commands): TLPs the fabric carried, NVMe commands a controller served. Recording allocates,
/// so it is only on when a trace file was asked for.
/// </summary>
public sealed class EventTrace
{
    readonly List<TraceEvent> _events = [];

    /// <summary>The most events kept (a long run keeps its beginning); <see cref="Dropped"/> counts the rest.</summary>
    public int Capacity { get; init; } = 1_000_000;

    /// <summary>Events in the order they were recorded.</summary>
    public IReadOnlyList<TraceEvent> Events => _events;

    /// <summary>Events not kept because <see cref="Capacity"/> was reached.</summary>
    public long Dropped { get; private set; }

    /// <summary>Records a step from <paramref name="startNs"/> lasting <paramref name="durationNs"/>.</summary>
    public void Complete(ulong startNs, ulong durationNs, string track, string name, string category, string? detail = null) =>
        Add(new TraceEvent(startNs, durationNs, track, name, category, false, detail));

    /// <summary>Records something that happened at <paramref name="atNs"/>.</summary>
    public void Instant(ulong atNs, string track, string name, string category, string? detail = null) =>
        Add(new TraceEvent(atNs, 0, track, name, category, true, detail));

    /// <summary>Forgets what was recorded (a new phase).</summary>
    public void Clear()
    {
        _events.Clear();
        Dropped = 0;
    }

    void Add(in TraceEvent e)
    {
        if (_events.Count < Capacity) _events.Add(e);
        else Dropped++;
    }
}
