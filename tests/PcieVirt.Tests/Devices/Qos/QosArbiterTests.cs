using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme.Qos;

namespace PcieVirt.Tests.Devices.Qos;

public class QosArbiterTests
{
    const ulong S = QosTestPlatform.Read4KServiceNs;

    static (WorkloadResult A, WorkloadResult B) NoisyNeighbour(QosTestPlatform p)
    {
        var a = new NvmeWorkload(p.ReadyDriver(p.A), new WorkloadOptions { Pattern = WorkloadPattern.RandRead, IoDepth = 32, Ops = 8000, Seed = 1 }, p.Time);
        var b = new NvmeWorkload(p.ReadyDriver(p.B), new WorkloadOptions { Pattern = WorkloadPattern.RandRead, IoDepth = 1, Ops = 200, Seed = 2 }, p.Time);
        var r = NvmeWorkload.RunTogether(p.Time, a, b);
        return (r[0], r[1]);
    }

    [Test]
    public void NoisyNeighbour_WithoutQos_TheQuietControllerQueuesBehindTheNoisyOne()
    {
        var (a, b) = NoisyNeighbour(new QosTestPlatform(qos: false));
        Assert.That(a.Errors + b.Errors, Is.Zero);
        // B's single command waits behind A's 32 at the first-come-first-served media: about 33 service times.
        Assert.That(b.Latency.P50, Is.GreaterThanOrEqualTo(30 * S), "B's median latency without QoS");
    }

    [Test]
    public void NoisyNeighbour_WithQos_TheQuietControllerKeepsItsGuarantee()
    {
        var p = new QosTestPlatform(qos: true);
        var (a, b) = NoisyNeighbour(p);
        Assert.That(a.Errors + b.Errors, Is.Zero);
        // Equal weights, one channel: B waits at most for the one command of A in service, then its own.
        Assert.That(b.Latency.Max, Is.LessThanOrEqualTo(2 * S), "B's worst latency with QoS");
        Assert.That(b.Latency.Min, Is.GreaterThanOrEqualTo(S), "no command completes faster than the media");
        // A still gets the rest of the media: while B runs, every other command is A's.
        Assert.That(a.Latency.P50, Is.LessThanOrEqualTo(70 * S));
        Assert.That(p.Arbiter!.GrantedTo(1), Is.EqualTo(8000));
        Assert.That(p.Arbiter.GrantedTo(2), Is.EqualTo(200));
    }

    [Test]
    public void IopsLimit_HoldsTheControllerToItsRate_CommandsWaitAndSucceed()
    {
        var p = new QosTestPlatform(qos: true);
        p.Arbiter!.Configure(1, new QosLimits(IopsLimit: 10_000));
        var r = new NvmeWorkload(p.ReadyDriver(p.A), new WorkloadOptions { Pattern = WorkloadPattern.RandRead, IoDepth = 16, Ops = 500 }, p.Time).Run();
        Assert.That(r.Errors, Is.Zero, "over-limit commands wait, they do not fail");
        Assert.That(r.Ops, Is.EqualTo(500));
        // 10 000 IOPS = one command per 100 us; the 1 ms burst lets the first 10 go at media speed.
        Assert.That(r.Iops, Is.InRange(9_900, 10_300));
        // Without the limit the media alone would allow 1 / 12 us = 83 333 IOPS.
        var free = new QosTestPlatform(qos: true);
        var rf = new NvmeWorkload(free.ReadyDriver(free.A), new WorkloadOptions { Pattern = WorkloadPattern.RandRead, IoDepth = 16, Ops = 500 }, free.Time).Run();
        Assert.That(rf.Iops, Is.InRange(82_000, 83_400));
    }

    [Test]
    public void BandwidthLimit_HoldsBytesPerSecond()
    {
        var p = new QosTestPlatform(qos: true);
        p.Arbiter!.Configure(1, new QosLimits(BytesPerSecond: 64UL << 20)); // 64 MiB/s
        var r = new NvmeWorkload(p.ReadyDriver(p.A), new WorkloadOptions { Pattern = WorkloadPattern.Read, BlockSize = 65536, IoDepth = 8, Ops = 400 }, p.Time).Run();
        Assert.That(r.Errors, Is.Zero);
        Assert.That(r.BandwidthBytesPerSecond, Is.InRange(63.0 * (1 << 20), 66.0 * (1 << 20)));
    }

    [Test]
    public void Weights_ShareTheMediaInProportion_WhenBothSaturate()
    {
        var p = new QosTestPlatform(qos: true);
        p.Arbiter!.Configure(1, new QosLimits(Weight: 3));
        p.Arbiter.Configure(2, new QosLimits(Weight: 1));
        var a = new NvmeWorkload(p.ReadyDriver(p.A), new WorkloadOptions { IoDepth = 16, Ops = 2000, Seed = 3 }, p.Time);
        var b = new NvmeWorkload(p.ReadyDriver(p.B), new WorkloadOptions { IoDepth = 16, Ops = 200, Seed = 4 }, p.Time);
        var r = NvmeWorkload.RunTogether(p.Time, a, b);
        // While both are saturated B gets 1 of every 4 media slots: its 200 commands take ~800 service times.
        Assert.That(r[1].ElapsedNs, Is.InRange(790 * S, 810 * S));
    }

    [Test]
    public void SameSeed_SameLatencies()
    {
        var (a1, b1) = NoisyNeighbour(new QosTestPlatform(qos: true));
        var (a2, b2) = NoisyNeighbour(new QosTestPlatform(qos: true));
        Assert.That(a2.ToJson(), Is.EqualTo(a1.ToJson()));
        Assert.That(b2.ToJson(), Is.EqualTo(b1.ToJson()));
    }

    [Test]
    public void Limits_AreValidated()
    {
        var p = new QosTestPlatform(qos: true);
        Assert.That(() => p.Arbiter!.Configure(1, new QosLimits(Weight: 0)), Throws.ArgumentException.With.Message.Contains("weight"));
        Assert.That(() => p.Arbiter!.Configure(9, QosLimits.Unlimited), Throws.ArgumentException.With.Message.Contains("not arbitrated"));
    }
}
