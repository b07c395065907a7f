using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Raid;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>
/// The default model's RAID controller as a platform device: its PF is an NVMe primary controller, each VF a
/// secondary controller reached through real ECAM/MMIO routing, volumes are namespaces attached per VF.
/// </summary>
[TestFixture]
public class RaidControllerVfIoTests
{
    static uint CreateRaid5(RaidPlatform p, string name, int firstDrive)
    {
        var r = p.Device.CreateVolume(new VolumeSpec
        {
            Name = name,
            Level = RaidLevel.Raid5,
            Members = [$"d{firstDrive}", $"d{firstDrive + 1}", $"d{firstDrive + 2}", $"d{firstDrive + 3}"],
            StripeSizeBytes = 64 * 1024,
        });
        Assert.That(r.IsSuccess, Is.True, r.ToString());
        uint nsid = p.Device.NamespaceOf(r.Value!);
        Assert.That(nsid, Is.Not.Zero);
        return nsid;
    }

    static void Fill(HostMemoryAllocator m, ulong address, int length, int seed)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = (byte)(i * 7 + seed);
        m.Memory.Write(address, data);
    }

    static byte[] Peek(HostMemoryAllocator m, ulong address, int length)
    {
        var data = new byte[length];
        m.Memory.Read(address, data);
        return data;
    }

    static NvmeStatus Raw(NvmeDriver d, byte opcode, uint nsid, ulong buffer) =>
        d.ExecuteIo(1, new NvmeSubmission { Opcode = opcode, Nsid = nsid, Prp1 = buffer, Cdw12 = 7 }).Status;

    [Test]
    public void DefaultModel_RaidPf_IsAnNvmeController_WithTheModelsCapabilityOrder()
    {
        var p = new RaidPlatform();
        var pf = p.Device.Function;
        Assert.That(pf.Identity.ClassCode, Is.EqualTo(0x010400u), "RAID bus controller by default");
        p.Host.Read(p.PfAddress, PciRegs.RevisionId, 4, out uint classRev);
        Assert.That(classRev >> 8, Is.EqualTo(0x010400u));
        Assert.That(p.PfDriver.Controller!.SerialNumber.Trim(), Is.EqualTo("PCIEVIRT-RAID"));
        Assert.That(p.Device.Engine.Drives, Has.Count.EqualTo(8));
        // Legacy list as the model orders it: PM, MSI, PCI Express, MSI-X (the controller adds none of its own).
        var ids = new List<uint>();
        p.Host.Read(p.PfAddress, PciRegs.CapabilitiesPointer, 1, out uint at);
        while (at != 0 && ids.Count < 16)
        {
            p.Host.Read(p.PfAddress, (int)at, 2, out uint hdr);
            ids.Add(hdr & 0xFF);
            at = hdr >> 8;
        }
        Assert.That(ids, Is.EqualTo(new uint[] { 0x01, 0x05, 0x10, 0x11 }));
    }

    [Test]
    public void NvmeClassCodeSetting_ReportsNvmeClass()
    {
        var p = new RaidPlatform(", \"classCode\": \"nvme\"");
        p.Host.Read(p.PfAddress, PciRegs.RevisionId, 4, out uint classRev);
        Assert.That(classRev >> 8, Is.EqualTo(0x010802u));
    }

    [Test]
    public void Vf_WritesAndReadsBack_OnARaid5Volume_ThroughTheFabric()
    {
        var p = new RaidPlatform();
        uint nsid = CreateRaid5(p, "vol0", 0);
        Assert.That(p.Device.Attach("vol0", 1).IsSuccess, Is.True);
        p.EnableVfs(2);
        p.Provision(1);
        var d = p.VfDriver(1);
        d.Initialize();
        Assert.That(d.Namespaces.Keys, Is.EqualTo(new[] { nsid }));
        Assert.That(d.Namespaces[nsid].Size, Is.EqualTo((ulong)p.Device.Engine.FindVolume("vol0")!.BlockCount));

        const int blocks = 256; // 128 KiB: crosses a 64 KiB chunk, so two data drives and parity are involved
        ulong wbuf = p.Memory.Allocate(blocks * 512), rbuf = p.Memory.Allocate(blocks * 512);
        Fill(p.Memory, wbuf, blocks * 512, 3);
        Assert.That(d.Write(nsid, 100, blocks, wbuf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.Read(nsid, 100, blocks, rbuf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Peek(p.Memory, rbuf, blocks * 512), Is.EqualTo(Peek(p.Memory, wbuf, blocks * 512)));
        // The data is on the volume itself, not only in the controller.
        var direct = new byte[blocks * 512];
        Assert.That(p.Device.Engine.FindVolume("vol0")!.Read(100, blocks, direct).IsSuccess, Is.True);
        Assert.That(direct, Is.EqualTo(Peek(p.Memory, wbuf, blocks * 512)));

        // Survives a drive failure: reconstruction on read.
        Assert.That(p.Device.Engine.FailDrive("d1").IsSuccess, Is.True);
        Fill(p.Memory, rbuf, blocks * 512, 99);
        Assert.That(d.Read(nsid, 100, blocks, rbuf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Peek(p.Memory, rbuf, blocks * 512), Is.EqualTo(Peek(p.Memory, wbuf, blocks * 512)));
    }

    [Test]
    public void Vf_SeesAndTouches_OnlyItsAttachedNamespaces()
    {
        var p = new RaidPlatform();
        uint ns1 = CreateRaid5(p, "a", 0), ns2 = CreateRaid5(p, "b", 4);
        Assert.That(p.Device.Attach("a", 1).IsSuccess, Is.True);
        Assert.That(p.Device.Attach("b", 2).IsSuccess, Is.True);
        p.EnableVfs(2);
        p.Provision(1);
        p.Provision(2);
        var d1 = p.VfDriver(1);
        d1.Initialize();
        var d2 = p.VfDriver(2);
        d2.Initialize();
        Assert.That(d1.Namespaces.Keys, Is.EqualTo(new[] { ns1 }));
        Assert.That(d2.Namespaces.Keys, Is.EqualTo(new[] { ns2 }));
        ulong buf = p.Memory.Allocate(4096);
        // Raw commands: the driver's helpers refuse NSIDs it did not identify, the controller must refuse them too.
        Assert.That(Raw(d1, NvmeIoOpcode.Read, ns2, buf), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        Assert.That(Raw(d1, NvmeIoOpcode.Write, ns2, buf), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        Assert.That(Raw(d2, NvmeIoOpcode.Read, ns1, buf), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        Assert.That(Raw(d1, NvmeIoOpcode.Read, ns1, buf), Is.EqualTo(NvmeStatus.Success));
        // Detach at run time: the namespace stops being usable on that VF.
        Assert.That(p.Device.Detach("a", 1).IsSuccess, Is.True);
        Assert.That(Raw(d1, NvmeIoOpcode.Read, ns1, buf), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
    }

    [Test]
    public void OfflineVf_CannotBeEnabled_AndGoingOfflineWhileEnabledIsFatal()
    {
        var p = new RaidPlatform();
        CreateRaid5(p, "vol0", 0);
        p.Device.Attach("vol0", 1);
        p.EnableVfs(1);
        // Never brought online: CC.EN → CSTS.CFS instead of RDY (NVMe 1.4 §8.5: an offline secondary is not usable).
        Assert.Throws<NvmeDriverException>(() => p.VfDriver(1).Initialize());
        Assert.That(p.Vf(1).Controller.IsFatal, Is.True);

        p.Provision(1);
        var d = p.VfDriver(1);
        d.Initialize();
        Assert.That(p.Virt(7, 0, RaidControllerDevice.VfControllerId(1), 0).Status, Is.EqualTo(NvmeStatus.Success), "offline");
        Assert.That(p.Vf(1).Controller.IsFatal, Is.True, "taken offline while enabled");
        ulong buf = p.Memory.Allocate(4096);
        var q = d.IoQueue(1);
        d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw12 = 7 });
        Assert.That(d.TryReap(q, out _), Is.False, "a failed controller posts no completion");
    }

    [Test]
    public void VfFlr_WithIoInFlight_AbortsThatVfsCommands_NoDmaAfterward_OtherVfUnaffected()
    {
        var p = new RaidPlatform(", \"processing\": \"explicit\"");
        uint ns1 = CreateRaid5(p, "a", 0), ns2 = CreateRaid5(p, "b", 4);
        p.Device.Attach("a", 1);
        p.Device.Attach("b", 2);
        p.EnableVfs(2);
        p.Provision(1);
        p.Provision(2);
        var d1 = p.VfDriver(1);
        d1.Initialize();
        var d2 = p.VfDriver(2);
        d2.Initialize();
        ulong src = p.Memory.Allocate(4096);
        Fill(p.Memory, src, 4096, 5);
        Assert.That(d1.Write(ns1, 0, 8, src).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d2.Write(ns2, 0, 8, src).Status, Is.EqualTo(NvmeStatus.Success));

        var vf1 = p.VfAddress(1).Bdf;
        long vf1Messages = 0;
        p.Host.RootComplex.InterruptController.MessageReceived += m => { if (m.RequesterId == vf1) vf1Messages++; };
        ulong b1 = p.Memory.Allocate(4096), b2 = p.Memory.Allocate(4096);
        var sentinel = new byte[4096];
        Array.Fill(sentinel, (byte)0xA5);
        p.Memory.Memory.Write(b1, sentinel);
        var q1 = d1.IoQueue(1);
        var cqBefore = Peek(p.Memory, q1.CqBase, q1.CqEntries * 16);
        // Explicit processing: the doorbells only record the submissions; nothing has run yet.
        for (int i = 0; i < 4; i++) d1.Submit(q1, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = ns1, Prp1 = b1, Cdw12 = 7 });
        ushort cid2 = d2.Submit(d2.IoQueue(1), new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = ns2, Prp1 = b2, Cdw12 = 7 });

        // FLR of VF1 through its PCI Express capability (§6.6.2), by a config write routed to the VF.
        int pcie = p.Vf(1).FindCapability<PciExpressCapability>()!.Offset;
        p.Host.Write(p.VfAddress(1), pcie + 0x08, 2, 1u << 15);
        Assert.That(p.Vf(1).Controller.IsReady, Is.False, "the FLR reset the controller");
        p.Vf(1).Controller.ProcessPending();
        p.Vf(2).Controller.ProcessPending();

        Assert.That(Peek(p.Memory, b1, 4096), Is.EqualTo(sentinel), "no data DMA of VF1 after the FLR");
        Assert.That(Peek(p.Memory, q1.CqBase, q1.CqEntries * 16), Is.EqualTo(cqBefore), "no completion DMA of VF1 after the FLR");
        Assert.That(vf1Messages, Is.Zero, "no MSI-X of VF1 after the FLR");
        var c2 = d2.WaitFor(d2.IoQueue(1), cid2);
        Assert.That(c2.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Peek(p.Memory, b2, 4096), Is.EqualTo(Peek(p.Memory, src, 4096)), "VF2's read is unaffected");
    }

    [Test]
    public void VfRead4KiB_FromDoorbellToMsix_AllocatesNothing()
    {
        var p = new RaidPlatform();
        uint nsid = CreateRaid5(p, "v", 0);
        p.Device.Attach("v", 1);
        p.EnableVfs(1);
        p.Provision(1);
        var d = p.VfDriver(1);
        d.Initialize();
        ulong buf = p.Memory.Allocate(4096);
        Assert.That(d.Write(nsid, 0, 8, buf).Status, Is.EqualTo(NvmeStatus.Success));
        var q = d.IoQueue(1);
        var read = new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = nsid, Prp1 = buf, Cdw12 = 7 };
        for (int i = 0; i < 200; i++) { d.Submit(q, read); d.TryReap(q, out _); } // warm up
        long msix = p.Host.RootComplex.InterruptController.TotalMessages;
        int reaped = 0, submitted = 0;
        long allocated = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                d.Submit(q, read);
                submitted++;
                if (d.TryReap(q, out var c) && c.Status.IsSuccess) reaped++;
            }
        });
        Assert.That(reaped, Is.EqualTo(submitted));
        Assert.That(p.Host.RootComplex.InterruptController.TotalMessages - msix, Is.EqualTo(submitted), "one MSI-X per completion");
        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public void AcknowledgedVfWrites_SurviveADriveFailureAndRebuild()
    {
        var p = new RaidPlatform(driveSize: "4M");
        uint nsid = CreateRaid5(p, "v", 0);
        p.Device.Attach("v", 1);
        p.EnableVfs(1);
        p.Provision(1);
        var d = p.VfDriver(1);
        d.Initialize();
        long blocks = p.Device.Engine.FindVolume("v")!.BlockCount;
        var expected = new byte[blocks * 512];
        var rng = new Random(42); // seeded: deterministic workload
        ulong buf = p.Memory.Allocate(16 * 512);
        var chunk = new byte[16 * 512];
        void RandomWrites(int n)
        {
            for (int i = 0; i < n; i++)
            {
                long lba = rng.NextInt64(blocks - 16);
                int count = rng.Next(1, 17);
                rng.NextBytes(chunk.AsSpan(0, count * 512));
                p.Memory.Memory.Write(buf, chunk.AsSpan(0, count * 512));
                Assert.That(d.Write(nsid, (ulong)lba, count, buf).Status, Is.EqualTo(NvmeStatus.Success));
                chunk.AsSpan(0, count * 512).CopyTo(expected.AsSpan((int)(lba * 512)));
            }
        }
        void VerifyAll()
        {
            for (long lba = 0; lba < blocks; lba += 16)
            {
                Assert.That(d.Read(nsid, (ulong)lba, 16, buf).Status, Is.EqualTo(NvmeStatus.Success));
                Assert.That(Peek(p.Memory, buf, 16 * 512), Is.EqualTo(expected.AsSpan((int)(lba * 512), 16 * 512).ToArray()), $"LBA {lba}");
            }
        }
        RandomWrites(300);
        Assert.That(p.Device.Engine.FailDrive("d2").IsSuccess, Is.True);
        RandomWrites(300); // degraded writes
        VerifyAll();
        Assert.That(p.Device.Engine.AddSpare("d4").IsSuccess, Is.True);
        for (int guard = 0; ; guard++)
        {
            Assert.That(guard, Is.LessThan(1000), "the rebuild makes progress");
            var step = p.Device.Engine.RebuildStep(4);
            RandomWrites(20); // writes interleaved with the rebuild
            if (step.IsComplete && step.RowsRebuilt == 0) break;
        }
        Assert.That(p.Device.Engine.FindVolume("v")!.State, Is.EqualTo(VolumeState.Optimal));
        VerifyAll();
    }
}
