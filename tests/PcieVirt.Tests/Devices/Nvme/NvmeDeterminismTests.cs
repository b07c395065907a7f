using System.Security.Cryptography;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>Same inputs, same results: a seeded mixed workload twice; and the hot path allocates nothing.</summary>
[TestFixture]
public class NvmeDeterminismTests
{
    sealed class Recorder : INvmeCommandObserver
    {
        public readonly List<NvmeCommandRecord> Records = [];
        public void OnCommandCompleted(in NvmeCommandRecord record) => Records.Add(record);
    }

    static (string Trace, byte[] NamespaceHash, MsiMessage[] Interrupts, NvmeCommandRecord[] Records) Run(int seed, NvmeProcessingMode mode)
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { Processing = mode });
        var rec = new Recorder();
        p.Controller.Observer = rec;
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 3 });
        var rng = new Random(seed);
        var trace = new System.Text.StringBuilder();
        ulong buf = p.Memory.Allocate(64 * 1024);
        for (int i = 0; i < 300; i++)
        {
            int qid = rng.Next(1, 4);
            int kind = rng.Next(10);
            int blocks = rng.Next(1, 65);
            ulong lba = (ulong)rng.Next(0, (int)NvmeTestPlatform.Ns1Blocks + 8); // sometimes out of range
            NvmeCompletion c;
            switch (kind)
            {
                case < 4:
                    p.HostWrite(buf, NvmeTestPlatform.Pattern(blocks * 512, rng.Next()));
                    c = d.Write(1, lba, blocks, buf + (ulong)(rng.Next(0, 64) * 4), qid);
                    break;
                case < 8:
                    c = d.Read(1, lba, blocks, buf + (ulong)(rng.Next(0, 64) * 4), qid);
                    break;
                case 8:
                    c = d.WriteZeroes(1, lba, blocks, qid);
                    break;
                default:
                    c = d.ExecuteIo(qid, new NvmeSubmission { Opcode = (byte)rng.Next(0x10, 0x20), Nsid = 1 });
                    break;
            }
            trace.Append($"{qid}:{c.CommandId}:{c.Status.Field:x4}:{c.SqHead};");
        }
        var ns = new byte[(int)NvmeTestPlatform.Ns1Blocks * 512];
        p.Ns1.Peek(0, ns);
        return (trace.ToString(), SHA256.HashData(ns), p.Rc.InterruptController.RecentMessages(), [.. rec.Records]);
    }

    [TestCase(NvmeProcessingMode.OnDoorbell)]
    [TestCase(NvmeProcessingMode.Explicit)]
    public void SameSeed_SameCompletionsDataInterruptsAndServiceTimes(NvmeProcessingMode mode)
    {
        var a = Run(1234, mode);
        var b = Run(1234, mode);
        Assert.That(b.Trace, Is.EqualTo(a.Trace));
        Assert.That(b.NamespaceHash, Is.EqualTo(a.NamespaceHash));
        Assert.That(b.Interrupts, Is.EqualTo(a.Interrupts));
        Assert.That(b.Records, Is.EqualTo(a.Records));
        Assert.That(a.Trace, Does.Contain(":4080:"), "some commands failed (LBA Out of Range, with DNR)");
        var c = Run(4321, mode);
        Assert.That(c.NamespaceHash, Is.Not.EqualTo(a.NamespaceHash), "a different seed is a different workload");
    }

    [Test]
    public void OneFourKibRead_FromDoorbellToMsix_AllocatesNothing()
    {
        var p = new NvmeTestPlatform(logLevel: Microsoft.Extensions.Logging.LogLevel.Information);
        var d = p.ReadyDriver();
        var q = d.IoQueue(1);
        ulong buf = p.Memory.Allocate(4096);
        var read = new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw12 = 7 };
        p.Ns1.Poke(0, NvmeTestPlatform.Pattern(4096, 3));
        long interrupts = p.Rc.InterruptController.TotalMessages;
        for (int i = 0; i < 200; i++) Cycle(d, q, read); // warm up: pages, JIT, tiering
        int cycles = 200;
        long allocated = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++) Cycle(d, q, read);
            cycles += 1000;
        });
        Assert.That(allocated, Is.Zero, "doorbell -> fetch -> backend -> DMA -> completion -> MSI-X, and reaping");
        Assert.That(p.Rc.InterruptController.TotalMessages - interrupts, Is.EqualTo(cycles), "one MSI-X per command");
        Assert.That(p.HostRead(buf, 4096), Is.EqualTo(NvmeTestPlatform.Pattern(4096, 3)));
    }

    static void Cycle(NvmeDriver d, NvmeQueuePair q, in NvmeSubmission s)
    {
        if ((d.Read32(NvmeRegisters.Csts) & 1) == 0) throw new InvalidOperationException("not ready"); // register read path too
        d.Submit(q, s);
        if (!d.TryReap(q, out var c) || !c.Status.IsSuccess) throw new InvalidOperationException("no successful completion");
    }
}

[TestFixture]
public class HostMemoryAllocatorTests
{
    [Test]
    public void Allocate_AlignsZeroesAndReusesFreedSpace()
    {
        var mem = new HostMemory(0x10_0000);
        var a = new HostMemoryAllocator(mem, 0x1000, 0x8000);
        mem.Write(0x2000, new byte[] { 9, 9, 9 });
        ulong x = a.Allocate(100, 64);
        Assert.That(x, Is.EqualTo(0x1000UL));
        ulong y = a.Allocate(0x1000, 0x1000);
        Assert.That(y, Is.EqualTo(0x2000UL), "aligned past the first block");
        var back = new byte[3];
        mem.Read(y, back);
        Assert.That(back, Is.All.Zero, "allocations are zero-filled");
        Assert.That(a.InUse, Is.EqualTo(0x1000UL + 100));
        a.Free(y);
        Assert.That(a.Allocate(0x1000, 0x1000), Is.EqualTo(0x2000UL), "freed space is reused, first fit");
        Assert.Throws<InvalidOperationException>(() => a.Allocate(0x10000));
        Assert.Throws<ArgumentException>(() => a.Free(0x1234));
    }

    [Test]
    public void FreedNeighbours_Coalesce()
    {
        var a = new HostMemoryAllocator(new HostMemory(0x10_0000), 0, 0x3000);
        ulong p0 = a.Allocate(0x1000), p1 = a.Allocate(0x1000), p2 = a.Allocate(0x1000);
        a.Free(p0);
        a.Free(p2);
        a.Free(p1);
        Assert.That(a.Allocate(0x3000), Is.Zero, "the three blocks merged back into one");
    }
}
