using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Sim;

/// <summary>Receives the events it scheduled on a <see cref="SimEngine"/>.</summary>
public interface ISimEventHandler
{
    /// <summary>The event scheduled with <paramref name="tag"/> and <paramref name="argument"/> is due.</summary>
    void OnEvent(int tag, long argument);
}

/// <summary>Something with its own notion of when it next has work (a device in timed mode).</summary>
public interface ITimedSource
{
    /// <summary>Earliest virtual time it has something to do; <see cref="ulong.MaxValue"/> when idle.</summary>
    ulong NextEventNs { get; }
    /// <summary>
    /// Does everything due at the current time. Work it cannot do yet (blocked, e.g. on a full queue) may
    /// stay reported as due: the engine retries it after the next event instead of spinning.
    /// </summary>
    void RunDue();
}

/// <summary>
/// The discrete-event core: virtual time in nanoseconds, a queue of events ordered by (time, order of
/// scheduling) so equal times always run in the same order, and timed sources polled for their next
/// event. Single-threaded and deterministic; scheduling allocates nothing once the queue has grown to
/// the simulation's peak depth.
/// </summary>
public sealed class SimEngine
{
    struct Event
    {
        public ulong Time, Sequence;
        public ISimEventHandler Handler;
        public int Tag;
        public long Argument;
    }

    Event[] _heap = new Event[64];
    int _count;
    ulong _sequence;
    // Sources were run at _stalledAt, no event was due then, and nothing has run since.
    bool _sourcesStalled;
    ulong _stalledAt;
    readonly List<ITimedSource> _sources = [];

    /// <summary>An engine driving <paramref name="clock"/> (a new clock when null).</summary>
    public SimEngine(VirtualClock? clock = null) => Clock = clock ?? new VirtualClock();

    /// <summary>The virtual clock every model in the simulation reads.</summary>
    public VirtualClock Clock { get; }

    /// <summary>Current virtual time (ns).</summary>
    public ulong Now => Clock.Now;

    /// <summary>Events waiting.</summary>
    public int Pending => _count;

    /// <summary>Events run so far.</summary>
    public long EventsRun { get; private set; }

    /// <summary>Adds a source whose <see cref="ITimedSource.NextEventNs"/> the engine honours.</summary>
    public void AddSource(ITimedSource source) => _sources.Add(source);

    /// <summary>Schedules <paramref name="handler"/> at <paramref name="time"/> (not before now).</summary>
    public void Schedule(ulong time, ISimEventHandler handler, int tag, long argument = 0)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (time < Now) throw new ArgumentOutOfRangeException(nameof(time), $"event at {time} ns is in the past (now {Now} ns)");
        if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
        int i = _count++;
        var e = new Event { Time = time, Sequence = _sequence++, Handler = handler, Tag = tag, Argument = argument };
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Before(e, _heap[parent])) break;
            _heap[i] = _heap[parent];
            i = parent;
        }
        _heap[i] = e;
    }

    /// <summary>Schedules <paramref name="handler"/> <paramref name="delay"/> ns from now.</summary>
    public void After(ulong delay, ISimEventHandler handler, int tag, long argument = 0)
    {
        // Without this check a huge delay would wrap around and be reported as "in the past".
        if (delay > ulong.MaxValue - Now)
            throw new ArgumentOutOfRangeException(nameof(delay), $"an event {delay} ns after {Now} ns is beyond the end of virtual time");
        Schedule(Now + delay, handler, tag, argument);
    }

    static bool Before(in Event a, in Event b) => a.Time < b.Time || (a.Time == b.Time && a.Sequence < b.Sequence);

    /// <summary>Earliest time anything is due: a queued event or a timed source; <see cref="ulong.MaxValue"/> when nothing is.</summary>
    public ulong NextEventNs
    {
        get
        {
            ulong t = _count > 0 ? _heap[0].Time : ulong.MaxValue;
            foreach (var s in _sources)
            {
                ulong st = s.NextEventNs;
                // A source already run at this time that still reports work due is blocked (e.g. a device
                // whose completion queue is full): it waits for the next event instead of stopping time.
                if (SourcesStalled && st <= Now) continue;
                t = Math.Min(t, st);
            }
            return t;
        }
    }

    /// <summary>
    /// Runs the next due thing: advances the clock to it, lets timed sources due by then run (they may
    /// schedule events), then runs one queued event due by then. False when nothing is pending. A source
    /// that still reports work due after it ran (it is blocked) is not polled again until an event has run.
    /// </summary>
    public bool Step()
    {
        ulong t = NextEventNs;
        if (t == ulong.MaxValue) return false;
        Clock.AdvanceTo(t);
        if (!SourcesStalled)
            foreach (var s in _sources)
                if (s.NextEventNs <= Now) s.RunDue();
        if (_count > 0 && _heap[0].Time <= Now)
        {
            var e = Pop();
            EventsRun++;
            _sourcesStalled = false; // the event may have unblocked a source: poll them again
            e.Handler.OnEvent(e.Tag, e.Argument);
        }
        else
        {
            // Sources ran and no event is due now; any source still due made no progress.
            _sourcesStalled = true;
            _stalledAt = Now;
        }
        return true;
    }

    bool SourcesStalled => _sourcesStalled && _stalledAt == Now;

    /// <summary>
    /// Runs events until <paramref name="done"/> holds (true). False when it stopped first because nothing was
    /// pending or the next event lies after <paramref name="limitNs"/> (events at the limit still run; the
    /// clock stays at the last event run).
    /// </summary>
    public bool RunUntil(Func<bool> done, ulong limitNs = ulong.MaxValue)
    {
        while (!done())
        {
            if (NextEventNs > limitNs) return false;
            if (!Step()) return false;
        }
        return true;
    }

    Event Pop()
    {
        var top = _heap[0];
        var last = _heap[--_count];
        _heap[_count] = default;
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= _count) break;
            if (child + 1 < _count && Before(_heap[child + 1], _heap[child])) child++;
            if (!Before(_heap[child], last)) break;
            _heap[i] = _heap[child];
            i = child;
        }
        if (_count > 0) _heap[i] = last;
        return top;
    }
}
