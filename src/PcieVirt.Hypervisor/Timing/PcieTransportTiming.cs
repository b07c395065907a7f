using PcieVirt.Devices.Nvme;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>
/// Link and DMA time of an NVMe command on a PCI Express link, from the timing parameters: link rate per
/// generation and width, the share of the link taken by ACK and flow-control DLLPs and SKIP ordered sets,
/// and per-TLP header bytes (the constants of the pcie-bench model, latency-anchors.md §4.1). Reads cost
/// one measured round trip per dependent request plus the wire time of the completions; writes cost their
/// wire time plus the one-way flight of the last (the completion entry). Rates are precomputed; the
/// per-command methods do arithmetic only.
/// </summary>
public sealed class PcieTransportTiming : INvmeTransportTiming
{
    /// <summary>Bytes of data inside the measured DMA read round trip (a 64 B read, latency-anchors §4.3).</summary>
    public const int RoundTripAnchorBytes = 64;

    // Per-TLP bytes of the pcie-bench model used by EffectiveBandwidthGBps (64-bit addresses, no ECRC):
    // 2 B framing + 6 B sequence number and LCRC, 4 B common header, 12 B (MWr) or 8 B (CplD) more header.
    const int MemoryWriteOverhead = 24, CompletionOverhead = 20;

    // DLLPs (ACK, UpdateFC) are 8 B on the wire: framing + 4 B DLLP + 2 B CRC.
    const double DllpBytes = 8;
    // A SKIP ordered set of 4 symbols every 1,538 symbols at most (clock tolerance compensation, §4.2.7).
    const double SkipOverhead = 4.0 / 1538.0;

    static readonly int[] Mps = [128, 256, 512, 1024, 2048, 4096];

    // Bytes of TLP traffic between ACK DLLPs, and between UpdateFC DLLPs (the spec's recommended
    // latency limits / update intervals as tabulated by pcie-bench/pcie-model), by link width
    // (x1..x32) and MPS (128..4096). Gen1, Gen2 and Gen3+ differ by the receiver's internal delay.
    // pcie-model's separate ACK and FC tables agree except two x32 entries that break the +64/+128
    // progression of their rows (Gen1 FC 2048: 248, Gen2 ACK 4096: 237); the progression is used.
    static readonly int[][] Gen1Interval =
    [
        [237, 416, 559, 1071, 2095, 4143],
        [128, 217, 289, 545, 1057, 2081],
        [73, 118, 154, 282, 538, 1050],
        [67, 107, 86, 150, 278, 534],
        [48, 72, 86, 150, 278, 534],
        [33, 45, 52, 84, 148, 276],
    ];
    static readonly int[][] Gen2Interval =
    [
        [288, 467, 610, 1122, 2146, 4194],
        [179, 268, 340, 596, 1108, 2132],
        [124, 169, 205, 333, 589, 1101],
        [118, 158, 137, 201, 329, 585],
        [99, 123, 137, 201, 329, 585],
        [84, 96, 103, 135, 199, 327],
    ];
    static readonly int[][] Gen3Interval =
    [
        [333, 512, 655, 1167, 2191, 4239],
        [224, 313, 385, 641, 1153, 2177],
        [169, 214, 250, 378, 634, 1146],
        [163, 203, 182, 246, 374, 630],
        [144, 168, 182, 246, 374, 630],
        [129, 141, 148, 180, 244, 372],
    ];

    readonly double _nsPerByte;
    readonly ulong _roundTripNs, _postedWriteNs;
    readonly int _mps, _completionSize, _writeOverhead, _completionOverhead;

    /// <summary>Timing for the link and DMA parameters in <paramref name="parameters"/>.</summary>
    public PcieTransportTiming(TimingParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Generation = (int)parameters[TimingParameter.PcieGeneration];
        Width = (int)parameters[TimingParameter.PcieWidth];
        _mps = (int)parameters[TimingParameter.MaxPayloadSize];
        _completionSize = Math.Min(_mps, (int)parameters[TimingParameter.ReadCompletionSize]);
        _writeOverhead = (int)parameters[TimingParameter.TlpOverheadWrite];
        _completionOverhead = (int)parameters[TimingParameter.TlpOverheadCompletion];
        _roundTripNs = parameters[TimingParameter.DmaReadRoundTrip];
        _postedWriteNs = parameters[TimingParameter.PostedWriteLatency];
        LinkBytesPerNs = TlpLayerGbps(Generation, Width, _mps) / 8;
        _nsPerByte = 1 / LinkBytesPerNs;
    }

    /// <summary>PCIe generation of the link (1-5).</summary>
    public int Generation { get; }

    /// <summary>Lanes of the link.</summary>
    public int Width { get; }

    /// <summary>Bytes per ns one direction of the link carries at the TLP layer (after encoding, DLLPs and SKIPs).</summary>
    public double LinkBytesPerNs { get; }

    /// <summary>
    /// Doorbell-to-media time: one DMA read round trip per dependent read request (the SQE, a PRP list, the
    /// data of a write), the wire time of their completions beyond the first 64 B each (already inside the
    /// measured round trip), and <paramref name="stallNs"/> (IOTLB misses reported by the path).
    /// </summary>
    public ulong BeforeMediaNs(int readRequests, long readBytes, ulong stallNs)
    {
        if (readRequests <= 0 || readBytes <= 0) return stallNs;
        long completions = Math.Max(readRequests, CeilDiv(readBytes, _completionSize));
        double wire = readBytes + (double)completions * _completionOverhead;
        double beyondAnchor = Math.Max(0, wire - (double)readRequests * (RoundTripAnchorBytes + _completionOverhead));
        return (ulong)readRequests * _roundTripNs + (ulong)Math.Round(beyondAnchor * _nsPerByte) + stallNs;
    }

    /// <summary>
    /// Media-to-host time: <paramref name="writeBytes"/> (read data plus the completion entry) as memory
    /// writes of at most MPS bytes each, plus the posted-write flight of the last one. 0 when nothing is written.
    /// </summary>
    public ulong AfterMediaNs(long writeBytes)
    {
        if (writeBytes <= 0) return 0;
        double wire = writeBytes + (double)CeilDiv(writeBytes, _mps) * _writeOverhead;
        return (ulong)Math.Round(wire * _nsPerByte) + _postedWriteNs;
    }

    /// <summary>Lane rate in GT/s: 2.5, 5, 8, 16, 32 for Gen1-Gen5.</summary>
    public static double LaneGigaTransfers(int generation) => generation switch
    {
        1 => 2.5,
        2 => 5,
        3 => 8,
        4 => 16,
        5 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(generation), generation, "PCIe generation must be 1..5"),
    };

    /// <summary>Line-code efficiency: 8b/10b for Gen1/Gen2, 128b/130b for Gen3-Gen5.</summary>
    public static double EncodingEfficiency(int generation) => generation <= 2 ? 8.0 / 10.0 : 128.0 / 130.0;

    /// <summary>Raw bandwidth of one direction after line coding, in Gb/s (Gen3 x8: 63.0).</summary>
    public static double RawGbps(int generation, int width) =>
        LaneGigaTransfers(generation) * EncodingEfficiency(generation) * (1 << WidthIndex(width));

    /// <summary>Share of the raw bandwidth taken by ACK and UpdateFC DLLPs and SKIP ordered sets.</summary>
    public static double LinkOverheadFraction(int generation, int width, int mps)
    {
        _ = LaneGigaTransfers(generation);
        var table = generation switch { 1 => Gen1Interval, 2 => Gen2Interval, _ => Gen3Interval };
        int interval = table[WidthIndex(width)][MpsIndex(mps)];
        // One ACK and one UpdateFC DLLP per interval of TLP bytes.
        return 2 * DllpBytes / interval + SkipOverhead;
    }

    /// <summary>Bandwidth left for TLPs in one direction, in Gb/s (Gen3 x8, MPS 256: 57.9).</summary>
    public static double TlpLayerGbps(int generation, int width, int mps) =>
        RawGbps(generation, width) * (1 - LinkOverheadFraction(generation, width, mps));

    /// <summary>
    /// Payload bandwidth in GB/s of back-to-back DMA of <paramref name="payloadBytes"/> each: device writes
    /// (memory writes of at most MPS, 24 B overhead each) or, when <paramref name="read"/>, device reads
    /// (completions of at most MPS, 20 B each). Request TLPs, descriptors and interrupts excluded, as in the
    /// table of latency-anchors.md §4.2.
    /// </summary>
    public static double EffectiveBandwidthGBps(int generation, int width, int mps, int payloadBytes, bool read)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(payloadBytes);
        double tlp = TlpLayerGbps(generation, width, mps) / 8;
        int overhead = read ? CompletionOverhead : MemoryWriteOverhead;
        double total = payloadBytes + (double)CeilDiv(payloadBytes, mps) * overhead;
        return tlp * payloadBytes / total;
    }

    static long CeilDiv(long a, long b) => (a + b - 1) / b;

    static int WidthIndex(int width) => width switch
    {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        16 => 4,
        32 => 5,
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "link width must be x1, x2, x4, x8, x16 or x32"),
    };

    static int MpsIndex(int mps)
    {
        int i = Array.IndexOf(Mps, mps);
        return i >= 0 ? i : throw new ArgumentOutOfRangeException(nameof(mps), mps, "MPS must be 128, 256, 512, 1024, 2048 or 4096");
    }
}
