namespace PcieVirt.Fabric.MultiRoot;

/// <summary>How the virtual links of one direction of an MR link share it.</summary>
public enum VlArbitrationPolicy
{
    /// <summary>Weighted round robin: each VL with traffic waiting gets a share proportional to its weight.</summary>
    WeightedRoundRobin,
    /// <summary>Strict priority: the highest-priority VL with traffic waiting takes the link; lower ones wait.</summary>
    StrictPriority,
}

/// <summary>
/// The arbiter of one direction of an MR link: decides which VL's TLPs get the link. The two policies are the
/// Base Spec's VC arbitration schemes (§6.3, Virtual Channel mechanism: strict priority, and round robin weighted by an arbitration
/// table); applying them to MR-IOV virtual links is our reading. Weighted round robin is evaluated in its fluid
/// limit: while several VLs are backlogged, a VL's TLPs leave at weight / (sum of the backlogged VLs' weights)
/// of the link rate; a VL alone gets the whole link (work conserving). Strict priority: VL index order, VL 0
/// highest; a TLP booked while a higher VL is backlogged gets <see cref="StrictResidualShare"/> of the rate
/// (the limit of weighted round robin with weights 255:1) rather than nothing, because a booking cannot be
/// moved later and must end somewhere; a VL whose higher VLs are idle gets the whole link.
/// </summary>
public sealed class VlArbiter
{
    readonly int[] _weights;

    /// <summary>The share of the link a lower-priority VL's TLP gets while a higher VL is backlogged (strict priority).</summary>
    public const double StrictResidualShare = 1.0 / 256;

    /// <summary>An arbiter for <paramref name="vlCount"/> VLs, weighted round robin with weight 1 each.</summary>
    public VlArbiter(int vlCount)
    {
        if (vlCount is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(vlCount), vlCount, "1..8 virtual links");
        _weights = new int[vlCount];
        Array.Fill(_weights, 1);
    }

    /// <summary>The policy (changeable at any time; it applies from the next TLP).</summary>
    public VlArbitrationPolicy Policy { get; set; } = VlArbitrationPolicy.WeightedRoundRobin;

    /// <summary>VLs arbitrated.</summary>
    public int Count => _weights.Length;

    /// <summary>Weight of <paramref name="vl"/> under weighted round robin.</summary>
    public int Weight(int vl) => _weights[vl];

    /// <summary>Sets the weight of <paramref name="vl"/> (1..255, the range of a VC arbitration table's phases per VC).</summary>
    public void SetWeight(int vl, int weight)
    {
        if ((uint)vl >= (uint)_weights.Length) throw new ArgumentOutOfRangeException(nameof(vl), vl, $"VL 0..{_weights.Length - 1}");
        if (weight is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(weight), weight, "weight 1..255");
        _weights[vl] = weight;
    }

    /// <summary>
    /// The share of the link rate (0 &lt; share &lt;= 1) a TLP of <paramref name="vl"/> gets when booked at
    /// <paramref name="atNs"/>, given each VL's backlog end (<paramref name="backlogEndNs"/>: when its last booked
    /// TLP leaves; a VL is backlogged when that is later than <paramref name="atNs"/>).
    /// </summary>
    public double ShareOf(int vl, ulong atNs, ReadOnlySpan<ulong> backlogEndNs)
    {
        if (Policy == VlArbitrationPolicy.StrictPriority)
        {
            // A higher VL with traffic waiting takes the link: this VL gets only a residual share (see the remarks).
            for (int j = 0; j < vl; j++)
                if (backlogEndNs[j] > atNs) return StrictResidualShare;
            return 1.0;
        }
        int active = _weights[vl];
        for (int j = 0; j < _weights.Length; j++)
            if (j != vl && backlogEndNs[j] > atNs) active += _weights[j];
        return (double)_weights[vl] / active;
    }
}
