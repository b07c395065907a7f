using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Tests.Devices.Qos;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Timing;

public class PcieTransportTimingTests
{
    // latency-anchors.md §4.2 (MPS 256): gen, width, raw GB/s, TLP-layer Gb/s, 4 KiB writes GB/s,
    // 4 KiB reads (completions) GB/s, 64 B writes GB/s. Computed there with the pcie-bench constants.
    static readonly object[] AnchorTable =
    [
        new object[] { 3, 4, 3.94, 29.1, 3.32, 3.37, 2.64 },
        new object[] { 3, 8, 7.88, 57.9, 6.62, 6.71, 5.26 },
        new object[] { 3, 16, 15.75, 113.7, 12.99, 13.18, 10.34 },
        new object[] { 4, 4, 7.88, 58.1, 6.64, 6.74, 5.29 },
        new object[] { 4, 8, 15.75, 115.8, 13.23, 13.42, 10.52 },
        new object[] { 4, 16, 31.51, 227.4, 25.99, 26.37, 20.67 },
        new object[] { 5, 8, 31.51, 231.5, 26.46, 26.85, 21.05 },
        new object[] { 5, 16, 63.02, 454.8, 51.98, 52.73, 41.35 },
    ];

    [TestCaseSource(nameof(AnchorTable))]
    public void Bandwidth_MatchesTheAnchorTable_Within1Percent(int gen, int width, double rawGBps, double tlpGbps, double wr4k, double rd4k, double wr64)
    {
        Assert.Multiple(() =>
        {
            Assert.That(PcieTransportTiming.RawGbps(gen, width) / 8, Is.EqualTo(rawGBps).Within(1).Percent, "raw");
            Assert.That(PcieTransportTiming.TlpLayerGbps(gen, width, 256), Is.EqualTo(tlpGbps).Within(1).Percent, "TLP layer");
            Assert.That(PcieTransportTiming.EffectiveBandwidthGBps(gen, width, 256, 4096, read: false), Is.EqualTo(wr4k).Within(1).Percent, "4 KiB writes");
            Assert.That(PcieTransportTiming.EffectiveBandwidthGBps(gen, width, 256, 4096, read: true), Is.EqualTo(rd4k).Within(1).Percent, "4 KiB reads");
            Assert.That(PcieTransportTiming.EffectiveBandwidthGBps(gen, width, 256, 64, read: false), Is.EqualTo(wr64).Within(1).Percent, "64 B writes");
        });
    }

    [Test]
    public void Gen3x8Mps256_TlpLayer_Is57Point88Gbps_AsNeugebauerReports()
    {
        // latency-anchors §4.1 [P]: 62.96 Gb/s physical (8 lanes x 7.87 Gb/s, the lane rate rounded;
        // exactly 8 GT/s x 128/130 x 8 = 63.015), 57.88 Gb/s usable at the TLP layer.
        Assert.That(PcieTransportTiming.RawGbps(3, 8), Is.EqualTo(8 * 8 * 128.0 / 130).Within(1e-12));
        Assert.That(PcieTransportTiming.RawGbps(3, 8), Is.EqualTo(62.96).Within(0.1).Percent);
        Assert.That(PcieTransportTiming.TlpLayerGbps(3, 8, 256), Is.EqualTo(57.88).Within(0.01));
    }

    [Test]
    public void Gen1x1_Uses8b10b_And2Point5GTs()
    {
        // 2.5 GT/s x 8/10 = 2 Gb/s; ACK and UpdateFC every 237 B at MPS 128 (Gen1 x1), SKIP 4 of 1538.
        double raw = 2.5 * 0.8;
        double tlp = raw * (1 - (8.0 / 237 + 8.0 / 237 + 4.0 / 1538));
        Assert.That(PcieTransportTiming.RawGbps(1, 1), Is.EqualTo(raw).Within(1e-12));
        Assert.That(PcieTransportTiming.TlpLayerGbps(1, 1, 128), Is.EqualTo(tlp).Within(1e-12));
        // 512 B writes at MPS 128: 4 TLPs of 128 + 24 B.
        Assert.That(PcieTransportTiming.EffectiveBandwidthGBps(1, 1, 128, 512, read: false), Is.EqualTo(tlp / 8 * 512 / (512 + 4 * 24)).Within(1e-12));
    }

    [Test]
    public void Gen2x4Mps512_HandComputed()
    {
        // 5 GT/s x 8/10 x 4 = 16 Gb/s; Gen2 x4 MPS 512 interval 205 B.
        double tlp = 16 * (1 - (16.0 / 205 + 4.0 / 1538));
        Assert.That(PcieTransportTiming.TlpLayerGbps(2, 4, 512), Is.EqualTo(tlp).Within(1e-12));
        // 1000 B of reads at MPS 512: 2 completions of 20 B overhead.
        Assert.That(PcieTransportTiming.EffectiveBandwidthGBps(2, 4, 512, 1000, read: true), Is.EqualTo(tlp / 8 * 1000 / 1040).Within(1e-12));
    }

    [Test]
    public void Gen5_Is128b130bAt32GTs_TwiceGen4()
    {
        Assert.That(PcieTransportTiming.RawGbps(5, 1), Is.EqualTo(32 * 128.0 / 130).Within(1e-12));
        Assert.That(PcieTransportTiming.RawGbps(5, 4), Is.EqualTo(2 * PcieTransportTiming.RawGbps(4, 4)).Within(1e-12));
    }

    [TestCase(0, 4, 256)]
    [TestCase(6, 4, 256)]
    [TestCase(3, 3, 256)]
    [TestCase(3, 64, 256)]
    [TestCase(3, 4, 192)]
    [TestCase(3, 4, 8192)]
    public void Bandwidth_InvalidLink_Throws(int gen, int width, int mps) =>
        Assert.That(() => PcieTransportTiming.EffectiveBandwidthGBps(gen, width, mps, 4096, read: false), Throws.InstanceOf<ArgumentOutOfRangeException>());

    // Default link: Gen3 x4, MPS 256, read completions of 64 B; bytes per ns at the TLP layer, by hand.
    static readonly double DefaultBytesPerNs = 8 * (128.0 / 130) * 4 / 8 * (1 - (8.0 / 214 + 8.0 / 214 + 4.0 / 1538));

    [Test]
    public void Defaults_LinkRate_IsGen3x4AfterOverheads()
    {
        var t = new PcieTransportTiming(new TimingParameters());
        Assert.That(t.LinkBytesPerNs, Is.EqualTo(DefaultBytesPerNs).Within(1e-12));
        Assert.That(t.Generation, Is.EqualTo(3));
        Assert.That(t.Width, Is.EqualTo(4));
    }

    [Test]
    public void BeforeMedia_OneSmallRead_IsExactlyTheMeasuredRoundTrip()
    {
        var t = new PcieTransportTiming(new TimingParameters());
        Assert.That(t.BeforeMediaNs(1, 64, 0), Is.EqualTo(560), "the 64 B SQE fetch is the anchor of dma_read_rtt_ns");
        Assert.That(t.BeforeMediaNs(1, 64, 280), Is.EqualTo(840), "an IOTLB miss reported by the path adds its stall");
        Assert.That(t.BeforeMediaNs(0, 0, 7), Is.EqualTo(7), "no reads: only the stall");
    }

    [Test]
    public void BeforeMedia_WriteCommand_SqePlusData_HandComputed()
    {
        var t = new PcieTransportTiming(new TimingParameters());
        // SQE (64 B) and 4 KiB of write data: 2 dependent round trips; completions of 64 B each:
        // 4160 / 64 = 65 completions, 20 B overhead each; the first 64 B completion of each request is in the RTT.
        double beyond = 4160 + 65 * 20 - 2 * (64 + 20);
        ulong expected = 2 * 560 + (ulong)Math.Round(beyond / DefaultBytesPerNs);
        Assert.That(t.BeforeMediaNs(2, 64 + 4096, 0), Is.EqualTo(expected));
    }

    [Test]
    public void BeforeMedia_CompletionsUpToMps_WhenTheRootComplexCoalesces()
    {
        var p = new TimingParameters().With(TimingParameter.ReadCompletionSize, 4096);
        var t = new PcieTransportTiming(p);
        // Completions are limited by MPS 256: 4160 B -> 17 completions.
        double beyond = 4160 + 17 * 20 - 2 * (64 + 20);
        Assert.That(t.BeforeMediaNs(2, 4160, 0), Is.EqualTo(2 * 560 + (ulong)Math.Round(beyond / DefaultBytesPerNs)));
        Assert.That(t.BeforeMediaNs(2, 4160, 0), Is.LessThan(new PcieTransportTiming(new TimingParameters()).BeforeMediaNs(2, 4160, 0)),
            "fewer, larger completions carry less header");
    }

    [Test]
    public void AfterMedia_4KiBReadData_PlusCqe_HandComputed()
    {
        var t = new PcieTransportTiming(new TimingParameters());
        // 4096 B data + 16 B CQE = 4112 B in 17 memory writes of <= 256 B, 24 B each; then the posted-write flight.
        ulong expected = (ulong)Math.Round((4112 + 17 * 24) / DefaultBytesPerNs) + 280;
        Assert.That(t.AfterMediaNs(4112), Is.EqualTo(expected));
        Assert.That(t.AfterMediaNs(16), Is.EqualTo((ulong)Math.Round(40 / DefaultBytesPerNs) + 280), "a CQE alone");
        Assert.That(t.AfterMediaNs(0), Is.Zero);
    }

    [Test]
    public void AfterMedia_WiderFasterLink_TakesLess()
    {
        var gen3x4 = new PcieTransportTiming(new TimingParameters());
        var gen4x8 = new PcieTransportTiming(new TimingParameters().With(TimingParameter.PcieGeneration, 4).With(TimingParameter.PcieWidth, 8));
        // 4x the raw rate; the posted-write flight is the same.
        Assert.That(gen4x8.AfterMediaNs(131_072) - 280, Is.LessThan((gen3x4.AfterMediaNs(131_072) - 280) / 3.9));
    }

    [Test]
    public void PerCommandMethods_AllocateNothing()
    {
        var t = new PcieTransportTiming(new TimingParameters());
        ulong sink = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++) sink += t.BeforeMediaNs(2, 4160, 3) + t.AfterMediaNs(4112);
        });
        Assert.That(bytes, Is.Zero);
        Assert.That(sink, Is.Not.Zero);
    }

    [Test]
    public void NvmeController_TimedRead_CompletesAfterTransportAndMedia()
    {
        var p = new QosTestPlatform(qos: false);
        var transport = new PcieTransportTiming(new TimingParameters());
        p.A.Controller.Transport = transport;
        var d = p.ReadyDriver(p.A);
        var q = d.IoQueue(1);
        ulong buf = p.Memory.Allocate(4096);
        ulong t0 = p.Clock.NowNs;
        d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw12 = 7 });
        // The SQE fetch (one 64 B read) before the media, the 4 KiB of data and the 16 B CQE after it.
        ulong expected = t0 + 560 + QosTestPlatform.Read4KServiceNs + transport.AfterMediaNs(4096 + 16);
        Assert.That(p.A.Controller.NextCompletionNs, Is.EqualTo(expected));
    }
}
