using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.Qos;

public class QosAllocationTests
{
    [Test]
    public void ArbitratedTimedRead_FromDoorbellToMsix_AllocatesNothing()
    {
        var p = new QosTestPlatform(qos: true);
        p.Arbiter!.Configure(1, new QosLimits(IopsLimit: 50_000, BytesPerSecond: 400UL << 20, Weight: 2));
        var d = p.ReadyDriver(p.A);
        var q = d.IoQueue(1);
        ulong buf = p.Memory.Allocate(4096);
        var read = new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw12 = 7 };
        for (int i = 0; i < 200; i++) Cycle(p, d, q, read); // warm up: pages, JIT, in-flight table
        int rounds = 0;
        ulong t0 = p.Clock.NowNs;
        long allocated = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++) Cycle(p, d, q, read);
            rounds++;
        });
        // 50 000 IOPS = one command per 20 us, slower than the 12 us media: the IOPS bucket paced every command.
        Assert.That(p.Clock.NowNs - t0, Is.EqualTo((ulong)rounds * 1000 * 20_000UL));
        Assert.That(allocated, Is.Zero, "doorbell -> arbiter grant -> fetch -> media model -> clock advance -> completion -> MSI-X");
    }

    static void Cycle(QosTestPlatform p, NvmeDriver d, NvmeQueuePair q, in NvmeSubmission s)
    {
        d.Submit(q, s);
        NvmeCompletion c;
        while (!d.TryReap(q, out c))
        {
            ulong next = p.Arbiter!.NextEventNs;
            if (next == ulong.MaxValue) throw new InvalidOperationException("stalled");
            p.Clock.NowNs = Math.Max(next, p.Clock.NowNs);
            p.Arbiter.Run();
        }
        if (!c.Status.IsSuccess) throw new InvalidOperationException("failed");
    }
}
