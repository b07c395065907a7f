namespace PcieVirt.Hypervisor.Timing;

/// <summary>
/// Per-component time of the I/Os a path completed. Each I/O carries its own row of charges while in
/// flight; on completion the row is added to the totals, and whatever part of the I/O's measured latency
/// no component was charged for is counted as <see cref="IoComponent.Waiting"/>, so the breakdown of
/// every I/O sums exactly to its latency. Allocation-free after construction.
/// </summary>
public sealed class LatencyBreakdown
{
    static readonly int Components = Enum.GetValues<IoComponent>().Length;
    readonly ulong[] _inFlight;
    readonly ulong[] _totals = new ulong[Components];

    /// <summary>A breakdown for up to <paramref name="slots"/> I/Os in flight at once.</summary>
    public LatencyBreakdown(int slots) => _inFlight = new ulong[slots * Components];

    /// <summary>I/Os completed.</summary>
    public long Completed { get; private set; }

    /// <summary>Sum of the latencies of completed I/Os (ns).</summary>
    public ulong TotalLatencyNs { get; private set; }

    /// <summary>Starts tracking I/O slot <paramref name="slot"/> (clears its row).</summary>
    public void Begin(int slot) => Array.Clear(_inFlight, slot * Components, Components);

    /// <summary>Charges <paramref name="ns"/> of I/O slot <paramref name="slot"/> to <paramref name="component"/>.</summary>
    public void Charge(int slot, IoComponent component, ulong ns) => _inFlight[slot * Components + (int)component] += ns;

    /// <summary>What slot <paramref name="slot"/> has been charged so far for <paramref name="component"/>.</summary>
    public ulong Charged(int slot, IoComponent component) => _inFlight[slot * Components + (int)component];

    /// <summary>
    /// Completes slot <paramref name="slot"/> with measured <paramref name="latencyNs"/>: adds its row to
    /// the totals, the uncharged remainder as waiting. Charges beyond the latency (work that overlapped
    /// other work) are scaled down so the row still sums to the latency.
    /// </summary>
    public void Complete(int slot, ulong latencyNs)
    {
        var row = _inFlight.AsSpan(slot * Components, Components);
        ulong charged = 0;
        foreach (ulong c in row) charged += c;
        if (charged <= latencyNs)
        {
            row[(int)IoComponent.Waiting] += latencyNs - charged;
            for (int i = 0; i < Components; i++) _totals[i] += row[i];
        }
        else
        {
            // Overlap: scale each charge; give the rounding remainder to the largest so the sum is exact.
            ulong sum = 0;
            int largest = 0;
            for (int i = 0; i < Components; i++)
            {
                ulong v = (ulong)((UInt128)row[i] * latencyNs / charged);
                row[i] = v;
                sum += v;
                if (v > row[largest]) largest = i;
            }
            row[largest] += latencyNs - sum;
            for (int i = 0; i < Components; i++) _totals[i] += row[i];
        }
        Completed++;
        TotalLatencyNs += latencyNs;
    }

    /// <summary>Mean ns per completed I/O of <paramref name="component"/>.</summary>
    public double MeanNs(IoComponent component) => Completed == 0 ? 0 : (double)_totals[(int)component] / Completed;

    /// <summary>Total ns of <paramref name="component"/> over completed I/Os.</summary>
    public ulong TotalNs(IoComponent component) => _totals[(int)component];

    /// <summary>Forgets completed I/Os (a new measurement phase).</summary>
    public void Reset()
    {
        Array.Clear(_totals);
        Completed = 0;
        TotalLatencyNs = 0;
    }
}
