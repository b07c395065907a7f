using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Devices.Nvme.Qos;

/// <summary>
/// Per-controller quality of service for one subsystem: what the primary controller sets for itself and
/// each secondary controller. Zero limits mean unlimited.
/// </summary>
/// <param name="IopsLimit">Commands per second (0 = unlimited).</param>
/// <param name="BytesPerSecond">Data bytes per second (0 = unlimited).</param>
/// <param name="Weight">Share of the media when controllers compete (commands per arbitration round, 1..255).</param>
/// <param name="BurstNs">How much idle time accumulates as credit (bucket depth, in ns of the limit rate).</param>
public readonly record struct QosLimits(ulong IopsLimit = 0, ulong BytesPerSecond = 0, int Weight = 1, ulong BurstNs = 1_000_000)
{
    /// <summary>No limits, weight 1.</summary>
    public static QosLimits Unlimited => new(0, 0, 1);

    /// <summary>Why the limits are unusable, or null.</summary>
    public string? Validate() =>
        Weight is < 1 or > 255 ? $"weight {Weight} is outside 1..255"
        : BurstNs == 0 && (IopsLimit != 0 || BytesPerSecond != 0) ? "burst must be non-zero when a limit is set"
        : null;
}

/// <summary>
/// The subsystem's I/O arbiter: controllers given to it (<see cref="Add"/>) leave I/O commands in their
/// submission queues until the arbiter grants a fetch. A fetch is granted when the shared media has an
/// idle channel, to the next controller in weighted round robin (each controller gets up to
/// <see cref="QosLimits.Weight"/> commands per round) among those with a fetchable command and tokens in
/// both of its token buckets (IOPS, bytes per second), refilled from the virtual clock. Commands over a
/// limit wait in their queue; nothing fails. Everything is integer arithmetic on virtual time, so runs are
/// deterministic; granting a command allocates nothing.
/// <para>Call <see cref="Run"/> after advancing the clock (it posts due completions and grants fetches);
/// <see cref="NextEventNs"/> says when something will next happen.</para>
/// </summary>
public sealed class QosArbiter : ICommandArbiter
{
    const ulong NsPerSecond = 1_000_000_000;

    sealed class Entry(NvmeController controller)
    {
        public readonly NvmeController Controller = controller;
        public QosLimits Limits = QosLimits.Unlimited;
        public long IopsCredit, ByteCredit; // in units of (op or byte) x ns, so refills are exact integers
        public ulong RefilledAtNs;
        public int RoundCredit;
        public long Granted;
    }

    readonly List<Entry> _entries = [];
    readonly Dictionary<ushort, QosLimits> _removedLimits = [];
    readonly Func<ulong> _clock;
    readonly ILogger _log;
    bool _running, _again;
    int _cursor;
    ulong _nextTokenNs = ulong.MaxValue;

    /// <summary>Creates an arbiter over <paramref name="media"/> reading virtual time from <paramref name="clock"/>.</summary>
    public QosArbiter(NvmeMediaModel media, Func<ulong> clock, ILogger? logger = null)
    {
        Media = media;
        _clock = clock;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>The shared media model.</summary>
    public NvmeMediaModel Media { get; }

    /// <summary>Puts <paramref name="controller"/> under this arbiter (timed mode on the shared media), unlimited until configured.</summary>
    /// <param name="controller">The controller.</param>
    /// <param name="initial">Its limits when the arbiter remembers none for its CNTLID (default: unlimited).</param>
    public void Add(NvmeController controller, QosLimits? initial = null)
    {
        if (Find(controller.ControllerId) != null) throw new InvalidOperationException($"controller {controller.ControllerId} is already arbitrated");
        var e = new Entry(controller) { RefilledAtNs = _clock() };
        // A controller that comes back (a VF re-enabled) keeps the limits its primary set before.
        if (_removedLimits.Remove(controller.ControllerId, out var kept)) e.Limits = kept;
        else if (initial is { } first)
        {
            if (first.Validate() is { } why) throw new ArgumentException($"controller {controller.ControllerId}: {why}", nameof(initial));
            e.Limits = first;
        }
        _entries.Add(e);
        Fill(e);
        controller.Media = Media;
        controller.Arbiter = this;
        Log.QosControllerAdded(_log, controller.ControllerId);
    }

    /// <summary>
    /// Takes <paramref name="controller"/> from the arbiter (its VF went away, or QoS is switched off) and
    /// back to immediate mode; its limits are remembered for when a controller with its CNTLID is added
    /// again. False when it is not arbitrated. Commands it has in execution are the caller's concern (a
    /// VF going away is reset, which drops them; switching QoS off should wait until there are none).
    /// </summary>
    public bool Remove(NvmeController controller)
    {
        int i = _entries.FindIndex(x => x.Controller == controller);
        if (i < 0) return false;
        _removedLimits[controller.ControllerId] = _entries[i].Limits;
        _entries.RemoveAt(i);
        if (_cursor >= _entries.Count) _cursor = 0;
        if (controller.Arbiter == this) controller.Arbiter = null;
        if (controller.Media == Media) controller.Media = null;
        Log.QosControllerRemoved(_log, controller.ControllerId);
        return true;
    }

    /// <summary>Controllers under the arbiter, in arbitration order.</summary>
    public IReadOnlyList<NvmeController> Controllers => _entries.ConvertAll(e => e.Controller);

    /// <summary>Sets the limits of controller <paramref name="controllerId"/> (CNTLID); its buckets start full.</summary>
    public void Configure(ushort controllerId, QosLimits limits)
    {
        if (limits.Validate() is { } why) throw new ArgumentException($"controller {controllerId}: {why}", nameof(limits));
        var e = Find(controllerId) ?? throw new ArgumentException($"controller {controllerId} is not arbitrated", nameof(controllerId));
        e.Limits = limits;
        e.RefilledAtNs = _clock();
        Fill(e);
        Log.QosConfigured(_log, controllerId, limits.IopsLimit, limits.BytesPerSecond, limits.Weight, limits.BurstNs);
        Run();
    }

    /// <summary>Limits of controller <paramref name="controllerId"/>, or null when it is not arbitrated.</summary>
    public QosLimits? LimitsOf(ushort controllerId) => Find(controllerId)?.Limits;

    /// <summary>Limits kept for controller <paramref name="controllerId"/> while it is away (<see cref="Remove"/>), or null.</summary>
    public QosLimits? RememberedLimitsOf(ushort controllerId) =>
        _removedLimits.TryGetValue(controllerId, out var l) ? l : null;

    /// <summary>Commands granted to controller <paramref name="controllerId"/> so far.</summary>
    public long GrantedTo(ushort controllerId) => Find(controllerId)?.Granted ?? 0;

    Entry? Find(ushort id)
    {
        foreach (var e in _entries)
            if (e.Controller.ControllerId == id) return e;
        return null;
    }

    /// <summary>Earliest virtual time at which a completion is due or a throttled controller gets tokens; <see cref="ulong.MaxValue"/> when idle.</summary>
    public ulong NextEventNs
    {
        get
        {
            ulong t = _nextTokenNs;
            foreach (var e in _entries) t = Math.Min(t, e.Controller.NextCompletionNs);
            return t;
        }
    }

    void ICommandArbiter.OnWork(NvmeController controller) => Run();

    /// <summary>Posts completions that are due, then grants fetches while the media has an idle channel. Returns the number of commands granted.</summary>
    public int Run()
    {
        if (_running)
        {
            _again = true; // re-entered from a completion's interrupt handler: the running pass continues
            return 0;
        }
        _running = true;
        int granted = 0;
        try
        {
            do
            {
                _again = false;
                foreach (var e in _entries) e.Controller.PostDue();
                granted += Grant();
            }
            while (_again);
        }
        finally
        {
            _running = false;
        }
        return granted;
    }

    int Grant()
    {
        int granted = 0, n = _entries.Count;
        _nextTokenNs = ulong.MaxValue;
        if (n == 0) return 0;
        ulong now = _clock();
        foreach (var e in _entries) Refill(e, now);
        int idle = 0; // controllers visited in a row without a grant: a full circle of them ends the pass
        while (idle < n && Media.HasIdleChannel(now))
        {
            var e = _entries[_cursor];
            if (e.RoundCredit > 0 && e.Controller.TryPeekIo(out int bytes) && HasTokens(e, bytes, now))
            {
                e.Controller.FetchPeekedIo();
                Charge(e, bytes);
                e.RoundCredit--;
                e.Granted++;
                granted++;
                idle = 0;
                if (e.RoundCredit > 0) continue;
            }
            else idle++;
            // This controller's turn is over: the next one starts its turn with a fresh share.
            _cursor = (_cursor + 1) % n;
            _entries[_cursor].RoundCredit = _entries[_cursor].Limits.Weight;
        }
        return granted;
    }

    static long Capacity(ulong rate, ulong burstNs, ulong minimumUnits)
    {
        UInt128 c = UInt128.Max((UInt128)rate * burstNs, (UInt128)minimumUnits * NsPerSecond);
        return c >= long.MaxValue ? long.MaxValue : (long)c;
    }

    void Fill(Entry e)
    {
        var l = e.Limits;
        e.IopsCredit = l.IopsLimit == 0 ? 0 : Capacity(l.IopsLimit, l.BurstNs, 1);
        e.ByteCredit = l.BytesPerSecond == 0 ? 0 : Capacity(l.BytesPerSecond, l.BurstNs, 1);
        e.RoundCredit = l.Weight;
    }

    static void Refill(Entry e, ulong now)
    {
        if (now <= e.RefilledAtNs) return;
        ulong dt = now - e.RefilledAtNs;
        e.RefilledAtNs = now;
        var l = e.Limits;
        if (l.IopsLimit != 0) e.IopsCredit = AddCredit(e.IopsCredit, dt, l.IopsLimit, Capacity(l.IopsLimit, l.BurstNs, 1));
        if (l.BytesPerSecond != 0) e.ByteCredit = AddCredit(e.ByteCredit, dt, l.BytesPerSecond, Capacity(l.BytesPerSecond, l.BurstNs, 1));
    }

    static long AddCredit(long credit, ulong dt, ulong rate, long capacity)
    {
        Int128 next = credit + (Int128)((UInt128)dt * rate);
        return next >= capacity ? capacity : (long)next;
    }

    /// <summary>
    /// Whether the buckets allow a command of <paramref name="bytes"/> now. A bucket must hold the whole
    /// cost, or be full when the cost exceeds its depth (a command larger than the burst then runs into debt).
    /// Otherwise records when the buckets will allow it.
    /// </summary>
    bool HasTokens(Entry e, int bytes, ulong now)
    {
        var l = e.Limits;
        ulong wait = 0;
        if (l.IopsLimit != 0) wait = Math.Max(wait, Shortfall(e.IopsCredit, NsPerSecond, Capacity(l.IopsLimit, l.BurstNs, 1), l.IopsLimit));
        if (l.BytesPerSecond != 0 && bytes > 0)
            wait = Math.Max(wait, Shortfall(e.ByteCredit, (ulong)bytes * NsPerSecond, Capacity(l.BytesPerSecond, l.BurstNs, 1), l.BytesPerSecond));
        if (wait == 0) return true;
        _nextTokenNs = Math.Min(_nextTokenNs, now + wait);
        return false;
    }

    /// <summary>Nanoseconds until <paramref name="credit"/> covers <paramref name="cost"/> (capped at the bucket depth), 0 if it does.</summary>
    static ulong Shortfall(long credit, ulong cost, long capacity, ulong rate)
    {
        long need = (long)Math.Min(cost, (ulong)capacity);
        if (credit >= need) return 0;
        ulong missing = (ulong)(need - credit);
        return (missing + rate - 1) / rate;
    }

    static void Charge(Entry e, int bytes)
    {
        if (e.Limits.IopsLimit != 0) e.IopsCredit -= (long)NsPerSecond;
        if (e.Limits.BytesPerSecond != 0) e.ByteCredit -= (long)Math.Min((ulong)bytes * NsPerSecond, long.MaxValue / 2);
    }
}
