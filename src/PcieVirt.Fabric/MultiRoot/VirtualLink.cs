using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>Settings of the virtual links of one MR link.</summary>
public sealed record VirtualLinkOptions
{
    /// <summary>Virtual links per direction (1..8, as VCs are).</summary>
    public int VlCount { get; init; } = 4;
    /// <summary>Bytes per ns one direction of the link carries at the TLP layer (from the link's generation and width).</summary>
    public double LinkBytesPerNs { get; init; } = 14.5;
    /// <summary>Max Payload Size of the link's TLPs.</summary>
    public int MaxPayloadSize { get; init; } = 256;
    /// <summary>Credits each VL's receiver advertises, per direction.</summary>
    public FcCredits Credits { get; init; } = FcCredits.SwitchPortDefault;
    /// <summary>Time from a TLP's last byte to its credits being back at the transmitter (receiver drains the buffer, UpdateFC DLLP).</summary>
    public ulong CreditReturnNs { get; init; } = 200;
    /// <summary>Bytes a TLP of each class takes on the wire besides its payload (framing, sequence number, header, MR-IOV prefix, LCRC).</summary>
    public int PostedOverhead { get; init; } = 28;
    /// <summary>Wire bytes of a non-posted request without data (a memory read).</summary>
    public int NonPostedOverhead { get; init; } = 28;
    /// <summary>Wire bytes of a completion besides its data.</summary>
    public int CompletionOverhead { get; init; } = 24;
}

/// <summary>Counters of one VL in one direction.</summary>
public struct VlCounters
{
    /// <summary>TLPs sent, by <see cref="FcType"/>.</summary>
    public long Posted, NonPosted, Completions;
    /// <summary>Payload bytes sent.</summary>
    public long PayloadBytes;
    /// <summary>TLPs that credits held back beyond their turn on the VL (the receiver's buffer was full).</summary>
    public long CreditStalls;
    /// <summary>Total time credits held TLPs back beyond their turn.</summary>
    public ulong CreditStallNs;
    /// <summary>Total time TLPs waited for the arbiter and the link beyond their own wire time.</summary>
    public ulong QueueNs;
}

/// <summary>
/// One direction of an MR link divided into virtual links: per-VL flow-control credits (consumed when a TLP is
/// sent, returned <see cref="VirtualLinkOptions.CreditReturnNs"/> after it has crossed, as UpdateFC DLLPs do,
/// PCIe Base Spec §2.6.1 and the Data Link Layer's UpdateFC DLLPs, chapter 3) and a <see cref="VlArbiter"/> that sets each
/// VL's share of the link rate. TLPs are booked when they become known, with the time they are ready; a booking
/// never moves afterwards (deterministic, no allocation per TLP). Because of that, a change in which VLs are busy
/// applies to TLPs booked after it: TLPs booked before keep the share they were given (a bounded transient).
/// </summary>
public sealed class VlChannel
{
    readonly VirtualLinkOptions _o;
    readonly double _nsPerByte;
    readonly ulong[] _backlogEnd;      // per VL: when its last booked TLP of any class leaves (what the arbiter sees)
    readonly ulong[] _classEnd;        // per (VL, class): when its last booked TLP of that class leaves (ordering)
    readonly VlCounters[] _counters;
    readonly VlCreditState[] _credits;
    readonly ILogger _log;
    ulong _linkFree;

    internal VlChannel(string name, VirtualLinkOptions options, ILogger log)
    {
        _o = options;
        _log = log;
        Name = name;
        Arbiter = new VlArbiter(options.VlCount);
        _nsPerByte = 1 / options.LinkBytesPerNs;
        _backlogEnd = new ulong[options.VlCount];
        _classEnd = new ulong[options.VlCount * 3];
        _counters = new VlCounters[options.VlCount];
        _credits = new VlCreditState[options.VlCount];
        for (int i = 0; i < _credits.Length; i++) _credits[i] = new VlCreditState(options.Credits);
    }

    /// <summary>"mra0.p0-link up" / "... down".</summary>
    public string Name { get; }
    /// <summary>Who gets the link.</summary>
    public VlArbiter Arbiter { get; }
    /// <summary>VLs in this direction.</summary>
    public int VlCount => _counters.Length;
    /// <summary>Counters of <paramref name="vl"/>.</summary>
    public VlCounters Counters(int vl) => _counters[vl];
    /// <summary>Credits of <paramref name="type"/> on <paramref name="vl"/> available at the transmitter now (header, data); -1 = infinite.</summary>
    public (int Header, int Data) Available(int vl, FcType type) => _credits[vl].Available(type);
    /// <summary>When the last booked TLP of any VL leaves.</summary>
    public ulong LinkFreeNs => _linkFree;

    /// <summary>Wire time of one TLP of <paramref name="type"/> with <paramref name="payloadBytes"/>, at the full link rate.</summary>
    public ulong WireNs(FcType type, int payloadBytes) => (ulong)Math.Round((payloadBytes + Overhead(type)) * _nsPerByte);

    /// <summary>
    /// Books one TLP of <paramref name="vl"/> ready at <paramref name="readyNs"/>: waits for its credits, for the
    /// arbiter and for the link; returns when its last byte has crossed. The arbiter counts a VL as backlogged
    /// when it has TLPs booked that have not crossed by <paramref name="readyNs"/>.
    /// </summary>
    public ulong Send(int vl, FcType type, int payloadBytes, ulong readyNs) => Send(vl, type, payloadBytes, readyNs, readyNs);

    /// <summary>
    /// As <see cref="Send(int, FcType, int, ulong)"/> for a TLP booked at simulated time <paramref name="nowNs"/> to
    /// be sent at <paramref name="readyNs"/> (later, e.g. when the media is done): the arbiter counts a VL as
    /// backlogged when it has TLPs booked that have not crossed by <paramref name="nowNs"/>, since no VL has
    /// booked anything for later than now yet that the future holds.
    /// </summary>
    public ulong Send(int vl, FcType type, int payloadBytes, ulong readyNs, ulong nowNs)
    {
        if ((uint)vl >= (uint)_counters.Length) throw new ArgumentOutOfRangeException(nameof(vl), vl, $"{Name}: VL 0..{_counters.Length - 1}");
        if (payloadBytes < 0 || payloadBytes > _o.MaxPayloadSize)
            throw new ArgumentOutOfRangeException(nameof(payloadBytes), payloadBytes, $"{Name}: payload 0..MPS ({_o.MaxPayloadSize})");
        ref var c = ref _counters[vl];
        int data = FcCredits.DataCredits(payloadBytes);
        ref ulong classEnd = ref _classEnd[vl * 3 + (int)type];
        ulong t = _credits[vl].WaitFor(type, data, readyNs);
        // A stall is time the credits held the TLP beyond its turn on its VL (waiting behind the VL's own
        // earlier TLPs is queueing, not a credit stall).
        ulong turn = Math.Max(readyNs, classEnd);
        if (t > turn)
        {
            c.CreditStalls++;
            c.CreditStallNs += t - turn;
            if (_log.IsEnabled(LogLevel.Trace)) Log.VlCreditStall(_log, Name, vl, type, t - turn);
        }
        // Which VLs are busy is judged at the booking's simulated time (or the TLP's, if earlier).
        double share = Arbiter.ShareOf(vl, Math.Min(nowNs, t), _backlogEnd);
        double wire = (payloadBytes + Overhead(type)) * _nsPerByte;
        // TLPs of one class on one VL leave in the order they were booked. Across classes a TLP booked now does
        // not wait for TLPs booked earlier for a later time (they were not yet issued when it was); the
        // ordering rules (§2.4) order a request only after writes issued before it. While other VLs are
        // backlogged this VL's TLPs leave at its share of the rate; the shares of the backlogged VLs add up to
        // 1, so the link carries no more than its rate while the set of busy VLs is steady.
        ulong start = Math.Max(t, classEnd);
        ulong end = start + (ulong)Math.Round(wire / share);
        classEnd = end;
        if (end > _backlogEnd[vl]) _backlogEnd[vl] = end;
        if (_log.IsEnabled(LogLevel.Trace)) Log.VlTlp(_log, Name, vl, type, payloadBytes, readyNs, start, end, share);
        if (end > _linkFree) _linkFree = end;
        _credits[vl].Consume(type, data, end + _o.CreditReturnNs);
        switch (type)
        {
            case FcType.Posted: c.Posted++; break;
            case FcType.NonPosted: c.NonPosted++; break;
            default: c.Completions++; break;
        }
        c.PayloadBytes += payloadBytes;
        c.QueueNs += end - t - (ulong)Math.Round(wire);
        return end;
    }

    /// <summary>
    /// Books <paramref name="bytes"/> of payload as TLPs of at most <paramref name="maxPayload"/> (clamped to MPS),
    /// all ready at <paramref name="readyNs"/>; returns when the last has crossed and, in <paramref name="aloneNs"/>,
    /// how long they would take on an idle link (so a caller can add the queueing delay only).
    /// </summary>
    public ulong SendBurst(int vl, FcType type, long bytes, int maxPayload, ulong readyNs, out ulong aloneNs) =>
        SendBurst(vl, type, bytes, maxPayload, readyNs, readyNs, out aloneNs);

    /// <summary>As <see cref="SendBurst(int, FcType, long, int, ulong, out ulong)"/>, booked at <paramref name="nowNs"/>.</summary>
    public ulong SendBurst(int vl, FcType type, long bytes, int maxPayload, ulong readyNs, ulong nowNs, out ulong aloneNs)
    {
        int chunk = Math.Clamp(maxPayload, 4, _o.MaxPayloadSize);
        ulong end = readyNs;
        double alone = 0;
        for (long left = bytes; left > 0; left -= chunk)
        {
            int n = (int)Math.Min(left, chunk);
            end = Send(vl, type, n, readyNs, nowNs);
            alone += (n + Overhead(type)) * _nsPerByte;
        }
        aloneNs = (ulong)Math.Round(alone);
        return end;
    }

    /// <summary>Clears the counters (credits, bookings and arbitration state are kept).</summary>
    public void ResetCounters() => Array.Clear(_counters);

    int Overhead(FcType type) => type switch
    {
        FcType.Posted => _o.PostedOverhead,
        FcType.NonPosted => _o.NonPostedOverhead,
        _ => _o.CompletionOverhead,
    };

    /// <summary>
    /// Transmitter-side credit state of one VL: per class, credits outstanding and a FIFO of their return times
    /// (bookings of one VL end in order, so returns come back in order). Capacity is the advertised header credits:
    /// no TLP can be outstanding beyond them.
    /// </summary>
    sealed class VlCreditState
    {
        readonly int[] _limitH = new int[3], _limitD = new int[3], _usedH = new int[3], _usedD = new int[3];
        readonly ulong[][] _retAt = new ulong[3][];
        readonly int[][] _retData = new int[3][];
        readonly int[] _head = new int[3], _count = new int[3];

        public VlCreditState(FcCredits advertised)
        {
            for (int t = 0; t < 3; t++)
            {
                _limitH[t] = advertised.Header((FcType)t);
                _limitD[t] = advertised.Data((FcType)t);
                // With infinite headers but finite data, data credits bound the TLPs outstanding (at least 1 credit each).
                int cap = _limitH[t] > 0 ? _limitH[t] : _limitD[t];
                _retAt[t] = new ulong[Math.Max(cap, 1)];
                _retData[t] = new int[Math.Max(cap, 1)];
            }
        }

        public (int, int) Available(FcType type)
        {
            int t = (int)type;
            return (_limitH[t] == 0 ? -1 : _limitH[t] - _usedH[t], _limitD[t] == 0 ? -1 : _limitD[t] - _usedD[t]);
        }

        /// <summary>The earliest time at or after <paramref name="readyNs"/> the credits for one TLP are available.</summary>
        public ulong WaitFor(FcType type, int data, ulong readyNs)
        {
            int t = (int)type;
            if (_limitH[t] == 0 && _limitD[t] == 0) return readyNs; // infinite: never gated
            if (_limitD[t] != 0 && data > _limitD[t])
                throw new InvalidOperationException($"a TLP needing {data} {type} data credits can never be sent: the receiver advertises {_limitD[t]} (at least Max Payload Size is required, §2.6.1)");
            ulong now = readyNs;
            Release(t, now);
            while (!Fits(t, data))
            {
                // Wait for the oldest outstanding TLP's UpdateFC.
                now = Math.Max(now, _retAt[t][_head[t]]);
                Release(t, now);
            }
            return now;
        }

        bool Fits(int t, int data) =>
            (_limitH[t] == 0 || _usedH[t] + 1 <= _limitH[t]) && (_limitD[t] == 0 || _usedD[t] + data <= _limitD[t]);

        void Release(int t, ulong now)
        {
            var at = _retAt[t];
            while (_count[t] > 0 && at[_head[t]] <= now)
            {
                _usedH[t]--;
                _usedD[t] -= _retData[t][_head[t]];
                _head[t] = (_head[t] + 1) % at.Length;
                _count[t]--;
            }
        }

        public void Consume(FcType type, int data, ulong returnAt)
        {
            int t = (int)type;
            if (_limitH[t] == 0 && _limitD[t] == 0) return;
            var at = _retAt[t];
            // A later-ready TLP of this VL ends after the earlier ones, so the FIFO stays in time order;
            // keep it monotonic in case rounding ever says otherwise.
            if (_count[t] > 0)
            {
                ulong last = at[(_head[t] + _count[t] - 1) % at.Length];
                if (returnAt < last) returnAt = last;
            }
            int slot = (_head[t] + _count[t]) % at.Length;
            at[slot] = returnAt;
            _retData[t][slot] = data;
            _count[t]++;
            _usedH[t]++;
            _usedD[t] += data;
        }
    }
}

/// <summary>
/// The virtual links of one MR device link: a (VH tag, traffic class) to VL map and two <see cref="VlChannel"/>s,
/// upstream (device to switch: the device's memory writes and read requests) and downstream (switch to device:
/// completions of its reads, the hosts' requests). Which VH uses which VL is our reading of MR-IOV (the MR-IOV
/// prefix carries a VL field; the mapping tables are in the members-only spec).
/// </summary>
public sealed class MrVirtualLinks
{
    readonly byte[] _vlOf = new byte[256 * 8]; // (tag, TC) -> VL

    /// <summary>
    /// Virtual links with <paramref name="options"/> on <paramref name="linkName"/>; <paramref name="logger"/>
    /// (Trace level) logs every TLP booked and every credit stall.
    /// </summary>
    public MrVirtualLinks(string linkName, VirtualLinkOptions? options = null, ILogger? logger = null)
    {
        var log = logger ?? NullLogger.Instance;
        Options = options ?? new VirtualLinkOptions();
        if (Options.VlCount is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(options), Options.VlCount, "1..8 virtual links");
        if (!(Options.LinkBytesPerNs > 0)) throw new ArgumentOutOfRangeException(nameof(options), Options.LinkBytesPerNs, "link rate must be positive");
        Options.Credits.Validate();
        Upstream = new VlChannel($"{linkName} up", Options, log);
        Downstream = new VlChannel($"{linkName} down", Options, log);
        // Default map: VH tag t to VL t mod VlCount, every TC alike (tag 0, the management VH, on VL 0).
        for (int tag = 0; tag < 256; tag++)
            for (int tc = 0; tc < 8; tc++) _vlOf[tag * 8 + tc] = (byte)(tag % Options.VlCount);
    }

    /// <summary>The settings.</summary>
    public VirtualLinkOptions Options { get; }
    /// <summary>Device to switch.</summary>
    public VlChannel Upstream { get; }
    /// <summary>Switch to device.</summary>
    public VlChannel Downstream { get; }

    /// <summary>The VL that carries traffic class <paramref name="tc"/> of VH tag <paramref name="tag"/>.</summary>
    public int VlOf(int tag, int tc = 0) => _vlOf[(tag & 0xFF) * 8 + (tc & 7)];

    /// <summary>Maps (VH tag, TC) to <paramref name="vl"/>; <paramref name="tc"/> null maps every TC of the tag.</summary>
    public void Map(int tag, int? tc, int vl)
    {
        if ((uint)tag > 255) throw new ArgumentOutOfRangeException(nameof(tag), tag, "VH tag 0..255");
        if (tc is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(tc), tc, "TC 0..7");
        if ((uint)vl >= (uint)Options.VlCount) throw new ArgumentOutOfRangeException(nameof(vl), vl, $"VL 0..{Options.VlCount - 1}");
        for (int t = tc ?? 0; t <= (tc ?? 7); t++) _vlOf[tag * 8 + t] = (byte)vl;
    }

    /// <summary>Sets the arbitration policy of both directions.</summary>
    public void SetPolicy(VlArbitrationPolicy policy)
    {
        Upstream.Arbiter.Policy = policy;
        Downstream.Arbiter.Policy = policy;
    }

    /// <summary>Sets <paramref name="vl"/>'s weighted-round-robin weight in both directions.</summary>
    public void SetWeight(int vl, int weight)
    {
        Upstream.Arbiter.SetWeight(vl, weight);
        Downstream.Arbiter.SetWeight(vl, weight);
    }
}
