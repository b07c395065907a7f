namespace PcieVirt.Fabric.MultiRoot;

/// <summary>
/// One link of a multi-root topology with per-(VH tag, TLP kind) counters. A host link (root port to
/// an MRA switch upstream port) is an ordinary link: its TLPs carry no MR-IOV prefix and it counts them
/// per kind only. A device link (MRA switch physical downstream port to an MRA device) carries the
/// MR-IOV local prefix; because the prefix is local, its VH tag has meaning on this link only, so each
/// device link keeps its own table from the switch's internal VH numbers to link tags.
/// </summary>
public sealed class MrLink
{
    const int Kinds = 5;
    readonly long[] _counts;
    readonly byte[] _tagOfVh;   // internal VH id -> link tag + 1 (0 = none yet)
    int _nextTag = 1;           // tag 0 is the management VH's on every link

    internal MrLink(string name, bool tagged)
    {
        Name = name;
        IsTagged = tagged;
        _counts = new long[(tagged ? 256 : 1) * Kinds];
        _tagOfVh = tagged ? new byte[256] : [];
    }

    /// <summary>Name used in traces ("host1-link", "mra0.p0-link").</summary>
    public string Name { get; }
    /// <summary>True for an MR link: every TLP carries an MR-IOV prefix with this link's VH tag.</summary>
    public bool IsTagged { get; }

    /// <summary>TLPs of <paramref name="kind"/> that crossed the link, all VHs together.</summary>
    public long Count(MrTlpKind kind)
    {
        long n = 0;
        for (int i = (int)kind; i < _counts.Length; i += Kinds) n += _counts[i];
        return n;
    }

    /// <summary>TLPs of <paramref name="kind"/> that crossed this (tagged) link with VH tag <paramref name="tag"/>.</summary>
    public long Count(int tag, MrTlpKind kind) =>
        IsTagged && (uint)tag < 256 ? _counts[tag * Kinds + (int)kind] : 0;

    /// <summary>Non-zero counters as (tag, kind, count); tag is -1 on an untagged link.</summary>
    public IReadOnlyList<(int Tag, MrTlpKind Kind, long Count)> Counters()
    {
        var list = new List<(int, MrTlpKind, long)>();
        for (int i = 0; i < _counts.Length; i++)
            if (_counts[i] != 0) list.Add((IsTagged ? i / Kinds : -1, (MrTlpKind)(i % Kinds), _counts[i]));
        return list;
    }

    /// <summary>The tag the switch's internal VH <paramref name="internalVh"/> carries on this link, or null if it has none.</summary>
    public int? TagOf(int internalVh)
    {
        if (!IsTagged || (uint)internalVh > 255) return null;
        if (internalVh == 0) return 0;
        return _tagOfVh[internalVh] == 0 ? null : _tagOfVh[internalVh] - 1;
    }

    /// <summary>Clears the counters (tags are kept).</summary>
    public void ResetCounters() => Array.Clear(_counts);

    /// <summary>Gives <paramref name="internalVh"/> a tag on this link if it has none (next free, in bind order).</summary>
    internal byte AssignTag(int internalVh)
    {
        if (TagOf(internalVh) is { } t) return (byte)t;
        if (_nextTag > 255) throw new InvalidOperationException($"{Name}: no VH tag left");
        _tagOfVh[internalVh] = (byte)(_nextTag + 1);
        return (byte)_nextTag++;
    }

    /// <summary>
    /// The link's virtual links (per-VL credits and arbitration for timed traffic), or null when not modelled
    /// (the default: counting only). Set by whoever times the link.
    /// </summary>
    public MrVirtualLinks? VirtualLinks { get; set; }

    internal void Add(int tag, MrTlpKind kind) => _counts[(IsTagged ? tag : 0) * Kinds + (int)kind]++;

    public override string ToString() => Name;
}
