using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>Interrupts per completion queue: MSI-X vectors, masking, coalescing, MSI fallback (NVMe Base 1.4 §7.5).</summary>
[TestFixture]
public class NvmeInterruptTests
{
    static readonly NvmeSubmission Flush1 = new() { Opcode = NvmeIoOpcode.Flush, Nsid = 1 };

    [Test]
    public void EachCompletionQueue_SignalsItsOwnMsixVector_WithTheFunctionsRequesterId()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 3 });
        var seen = new List<MsiMessage>();
        p.Rc.InterruptController.MessageReceived += seen.Add;
        foreach (int qid in new[] { 2, 3, 1, 2 }) Assert.That(d.ExecuteIo(qid, Flush1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(seen.Select(m => (int)m.Vector), Is.EqualTo(new[] { 0x42, 0x43, 0x41, 0x42 }), "MSI data = the table entry the CQ names");
        Assert.That(seen.Select(m => m.RequesterId).Distinct(), Is.EqualTo(new[] { p.Function.Bdf }));
        Assert.That(p.Function.Bdf.Bus, Is.EqualTo(1), "below the root port: 01:00.0");
        Assert.That(seen.All(m => m.Address == InterruptController.MsiBase), Is.True);
        Assert.That(p.Controller.CompletionQueueVector(3), Is.EqualTo(3));
        // Admin completions use vector 0.
        long admin = p.Rc.InterruptController.CountForVector(0x40);
        d.IdentifyController();
        Assert.That(p.Rc.InterruptController.CountForVector(0x40), Is.EqualTo(admin + 1));
    }

    [Test]
    public void MaskedVector_IsHeldPending_AndDeliveredOnUnmask()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var msix = p.Function.FindCapability<MsixCapability>()!;
        ulong entry1 = p.Bar0 + msix.TableOffset + 16;
        p.Rc.MemoryWrite(entry1 + 12, BitConverter.GetBytes(1u)); // mask vector 1
        long before = p.Rc.InterruptController.TotalMessages;
        Assert.That(d.ExecuteIo(1, Flush1).Status, Is.EqualTo(NvmeStatus.Success), "polling still sees the completion");
        Assert.That(p.Rc.InterruptController.TotalMessages, Is.EqualTo(before));
        Assert.That(msix.IsPending(1), Is.True);
        var pba = new byte[8];
        p.Rc.MemoryRead(p.Bar0 + msix.PbaOffset, pba);
        Assert.That(pba[0] & 2, Is.EqualTo(2), "the PBA shows vector 1 pending");
        p.Rc.MemoryWrite(entry1 + 12, BitConverter.GetBytes(0u));
        Assert.That(p.Rc.InterruptController.TotalMessages, Is.EqualTo(before + 1));
        Assert.That(p.Rc.InterruptController.LastMessage!.Value.Vector, Is.EqualTo(0x41));
    }

    [Test]
    public void CompletionQueueWithInterruptsDisabled_SendsNothing()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 0 });
        d.SetNumberOfQueues(1);
        ulong sq = p.Memory.Allocate(64 * 8), cq = p.Memory.Allocate(16 * 8);
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoCompletionQueue, Prp1 = cq, Cdw10 = 1u | 7u << 16, Cdw11 = 1u | 1u << 16 }).Status,
            Is.EqualTo(NvmeStatus.Success), "IEN = 0");
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoSubmissionQueue, Prp1 = sq, Cdw10 = 1u | 7u << 16, Cdw11 = 1u | 1u << 16 }).Status,
            Is.EqualTo(NvmeStatus.Success));
        var q = d.AdoptQueuePair(1, sq, cq, 8, 8, 1);
        long before = p.Rc.InterruptController.TotalMessages;
        Assert.That(d.WaitFor(q, d.Submit(q, Flush1)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Rc.InterruptController.TotalMessages, Is.EqualTo(before));
    }

    [Test]
    public void Coalescing_WaitsForTheThreshold_OrTheTime()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var ic = p.Rc.InterruptController;
        // THR = 3 (0's based: 4 entries), TIME = 10 (1 ms).
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.SetFeatures, Cdw10 = NvmeFeatureId.InterruptCoalescing, Cdw11 = 3u | 10u << 8 }).Status,
            Is.EqualTo(NvmeStatus.Success));
        var q = d.IoQueue(1);
        long start = ic.CountForVector(q.HostVector);
        for (int i = 0; i < 3; i++) d.Submit(q, Flush1);
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(start), "three entries wait");
        d.Submit(q, Flush1);
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(start + 1), "the fourth reaches the threshold");
        d.Submit(q, Flush1);
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(start + 1));
        p.Clock.Advance(999_999);
        p.Controller.ProcessPending();
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(start + 1));
        p.Clock.Advance(1);
        p.Controller.ProcessPending();
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(start + 2), "aggregation time elapsed");
        // The admin queue is never coalesced.
        long admin = ic.CountForVector(0x40);
        d.IdentifyController();
        Assert.That(ic.CountForVector(0x40), Is.EqualTo(admin + 1));
        // Coalescing Disable for the vector (Interrupt Vector Configuration CD) restores one interrupt per entry.
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.SetFeatures, Cdw10 = NvmeFeatureId.InterruptVectorConfiguration, Cdw11 = 1u | 1u << 16 }).Status,
            Is.EqualTo(NvmeStatus.Success));
        long now = ic.CountForVector(q.HostVector);
        d.Submit(q, Flush1);
        Assert.That(ic.CountForVector(q.HostVector), Is.EqualTo(now + 1));
    }

    [Test]
    public void DriverInterruptWait_CompletesOnTheQueueVector()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { Wait = NvmeCompletionWait.Interrupt, IoQueuePairs = 2 });
        ulong buf = p.Memory.Allocate(4096);
        p.HostWrite(buf, NvmeTestPlatform.Pattern(4096, 21));
        Assert.That(d.Write(1, 8, 8, buf, qid: 2).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.Read(1, 8, 8, buf + 0, qid: 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(buf, 4096), Is.EqualTo(NvmeTestPlatform.Pattern(4096, 21)));
    }

    [Test]
    public void DriverInterruptWait_WithTheVectorMasked_TimesOut()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { Wait = NvmeCompletionWait.Interrupt, MaxPolls = 50 });
        var msix = p.Function.FindCapability<MsixCapability>()!;
        p.Rc.MemoryWrite(p.Bar0 + msix.TableOffset + 16 + 12, BitConverter.GetBytes(1u));
        Assert.Throws<NvmeDriverException>(() => d.ExecuteIo(1, Flush1));
    }

    [Test]
    public void MsiFallback_WithoutMsix_InterruptMaskRegistersApply()
    {
        var p = new NvmeTestPlatform(withMsi: true);
        var d = p.ReadyDriver(new NvmeDriverOptions { UseMsix = false });
        var msi = p.Function.FindCapability<MsiCapability>()!;
        var addr = new PciAddress(0, p.Function.Bdf);
        // Host programs MSI: address, data 0x60, enable with 1 vector.
        p.Rc.Write(addr, msi.Offset + 4, 4, (uint)InterruptController.MsiBase);
        p.Rc.Write(addr, msi.Offset + 8, 4, 0);
        p.Rc.Write(addr, msi.Offset + 12, 2, 0x60);
        p.Rc.Write(addr, msi.Offset + 2, 2, 1);
        var ic = p.Rc.InterruptController;
        long before = ic.CountForVector(0x60);
        // Queue 1 was created with IEN = 0 by a driver not using MSI-X; admin completions use vector 0.
        d.IdentifyController();
        Assert.That(ic.CountForVector(0x60), Is.EqualTo(before + 1), "admin completion via MSI");
        Assert.That(ic.LastMessage!.Value.RequesterId, Is.EqualTo(p.Function.Bdf));
        d.Write32(NvmeRegisters.Intms, 1); // mask vector 0
        d.IdentifyController();
        Assert.That(ic.CountForVector(0x60), Is.EqualTo(before + 1), "masked by INTMS");
        d.Write32(NvmeRegisters.Intmc, 1); // unmask: the held interrupt is sent
        Assert.That(ic.CountForVector(0x60), Is.EqualTo(before + 2));
    }

    [Test]
    public void NoInterruptMechanismEnabled_CountsPinAssertions()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { UseMsix = false });
        long before = p.Controller.PinInterruptsAsserted;
        d.IdentifyController();
        Assert.That(p.Controller.PinInterruptsAsserted, Is.EqualTo(before + 1));
        Assert.That(p.Rc.InterruptController.TotalMessages, Is.Zero);
    }
}
