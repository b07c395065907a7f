using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>Doorbells, queue flow control, asynchronous error events and processing modes (NVMe Base 1.4 §4.1, §3.1.24-25).</summary>
[TestFixture]
public class NvmeQueueTests
{
    static readonly NvmeSubmission Flush1 = new() { Opcode = NvmeIoOpcode.Flush, Nsid = 1 };

    static (NvmeTestPlatform P, NvmeDriver D, ushort Aer) WithAer(NvmeControllerOptions? o = null, NvmeDriverOptions? d = null)
    {
        var p = new NvmeTestPlatform(o);
        var drv = p.ReadyDriver(d);
        ushort aer = drv.Submit(drv.AdminQueue!, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        return (p, drv, aer);
    }

    static NvmeCompletion ExpectEvent(NvmeDriver d, ushort aer, uint type, uint info, uint log)
    {
        Assert.That(d.TryReap(d.AdminQueue!, out var c), Is.True, "the Asynchronous Event Request completed");
        Assert.That(c.CommandId, Is.EqualTo(aer));
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(c.Dword0 & 7, Is.EqualTo(type), "event type");
        Assert.That((c.Dword0 >> 8) & 0xFF, Is.EqualTo(info), "event information");
        Assert.That((c.Dword0 >> 16) & 0xFF, Is.EqualTo(log), "log page");
        return c;
    }

    [Test]
    public void DoorbellOfAQueueThatDoesNotExist_IsAnErrorEvent_WriteToInvalidDoorbellRegister()
    {
        var (p, d, aer) = WithAer();
        d.WriteDoorbell(5, false, 1);
        ExpectEvent(d, aer, 0, 0x00, 0x01);
        Assert.That(p.LogMessages(LogLevel.Warning).Any(m => m.Contains("SQ 5 does not exist")), Is.True);
    }

    [Test]
    public void SqTailBeyondTheQueue_IsInvalidDoorbellWriteValue_AndIgnored()
    {
        var (p, d, aer) = WithAer(d: new NvmeDriverOptions { IoQueueEntries = 16 });
        d.WriteDoorbell(1, false, 16);
        ExpectEvent(d, aer, 0, 0x01, 0x01);
        // The tail did not move: the queue still works from where it was.
        Assert.That(d.ExecuteIo(1, Flush1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Controller.IsFatal, Is.False);
    }

    [Test]
    public void SqTailThatOverflowsTheQueue_IsInvalidDoorbellWriteValue()
    {
        var (p, d, aer) = WithAer(new NvmeControllerOptions { Processing = NvmeProcessingMode.Explicit }, new NvmeDriverOptions { IoQueueEntries = 4 });
        var q = d.IoQueue(1);
        for (int i = 0; i < 3; i++) d.Enqueue(q, Flush1);
        d.RingSqDoorbell(q); // tail 3, head 0: three entries outstanding (a full 4-entry queue)
        d.WriteDoorbell(1, false, 1); // would leave one outstanding: the host wrapped past the head
        p.Controller.ProcessPending();
        ExpectEvent(d, aer, 0, 0x01, 0x01);
        int reaped = 0;
        while (d.TryReap(q, out var c)) { Assert.That(c.Status, Is.EqualTo(NvmeStatus.Success)); reaped++; }
        Assert.That(reaped, Is.EqualTo(3), "the three real commands were processed");
    }

    [Test]
    public void CqHeadReleasingEntriesNotPosted_IsInvalidDoorbellWriteValue()
    {
        var (_, d, aer) = WithAer();
        d.WriteDoorbell(1, true, 5); // nothing posted on CQ 1 yet
        ExpectEvent(d, aer, 0, 0x01, 0x01);
    }

    [Test]
    public void ErrorEvents_AreMaskedUntilTheErrorLogIsRead()
    {
        var (p, d, aer) = WithAer();
        d.WriteDoorbell(7, false, 1);
        ExpectEvent(d, aer, 0, 0x00, 0x01);
        ushort aer2 = d.Submit(d.AdminQueue!, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        d.WriteDoorbell(1, false, 999); // invalid value: a new error event, but the type is masked
        Assert.That(d.TryReap(d.AdminQueue!, out _), Is.False);
        // Reading the error log with RAE set keeps the mask; with RAE clear it releases the waiting event.
        NvmeLogs.Read(d, NvmeLogPageId.ErrorInformation, 64, retain: true);
        Assert.That(d.TryReap(d.AdminQueue!, out _), Is.False);
        var log = NvmeLogs.ReadRaw(d, NvmeLogPageId.ErrorInformation, 64, out _);
        Assert.That(log.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.TryReap(d.AdminQueue!, out var c), Is.True);
        Assert.That(c.CommandId, Is.EqualTo(aer2));
        Assert.That((c.Dword0 >> 8) & 0xFF, Is.EqualTo(0x01u));
        Assert.That(p.Controller.IsFatal, Is.False);
    }

    [Test]
    public void EventWithoutARequest_IsKeptUntilOneArrives()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        d.WriteDoorbell(9, true, 0);
        var c = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        Assert.That(c.Dword0, Is.EqualTo(0x01_00_00u), "error status, write to invalid doorbell register, error log");
    }

    [Test]
    public void DoorbellOffStride_IsIgnored()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { DoorbellStride = 1 });
        var d = p.ReadyDriver();
        long done = p.Controller.CommandsCompleted;
        d.Write32(0x1004, 1); // between SQ0 tail (1000h) and CQ0 head (1008h) with an 8-byte stride
        Assert.That(p.Controller.CommandsCompleted, Is.EqualTo(done));
        Assert.That(p.LogMessages(LogLevel.Warning).Any(m => m.Contains("not on a doorbell")), Is.True);
        Assert.That(d.ExecuteIo(1, Flush1).Status, Is.EqualTo(NvmeStatus.Success), "the real doorbells work with the stride");
    }

    [Test]
    public void FullCompletionQueue_HoldsBackFetching_UntilTheHostFreesAnEntry()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 0 });
        d.SetNumberOfQueues(1);
        var q = d.CreateIoQueuePair(1, sqEntries: 16, cqEntries: 4);
        for (int i = 0; i < 6; i++) d.Enqueue(q, Flush1);
        d.RingSqDoorbell(q);
        // A 4-entry CQ holds 3 completions (full when tail + 1 == head).
        Assert.That(p.Ns1.Flushes, Is.EqualTo(3));
        Assert.That(d.TryReap(q, out _), Is.True); // frees one entry: the controller fetches one more
        Assert.That(p.Ns1.Flushes, Is.EqualTo(4));
        int reaped = 1;
        while (d.TryReap(q, out _)) reaped++;
        Assert.That(reaped, Is.EqualTo(6));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(6));
    }

    [Test]
    public void ExplicitMode_DoorbellsOnlyRecord_ProcessPendingArbitratesRoundRobin()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { Processing = NvmeProcessingMode.Explicit });
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 2 });
        var order = new RecordingObserver();
        p.Controller.Observer = order;
        var q1 = d.IoQueue(1);
        var q2 = d.IoQueue(2);
        for (int i = 0; i < 3; i++) d.Enqueue(q1, Flush1);
        d.RingSqDoorbell(q1);
        for (int i = 0; i < 2; i++) d.Enqueue(q2, Flush1);
        d.RingSqDoorbell(q2);
        Assert.That(order.Records, Is.Empty, "nothing runs on the doorbell write");
        Assert.That(p.Controller.ProcessPending(), Is.EqualTo(5));
        Assert.That(order.Records.Select(r => (int)r.SqId), Is.EqualTo(new[] { 1, 2, 1, 2, 1 }), "one command per queue per turn");
        Assert.That(order.Records.Select(r => (int)r.CommandId), Is.EqualTo(new[] { 0, 0, 1, 1, 2 }));
        Assert.That(order.Records.All(r => r.ServiceTimeNs > 0), Is.True, "service time reported for each command");
    }

    [Test]
    public void InterruptHandlerThatReapsInline_IsHandledWithoutRecursion()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var q = d.IoQueue(1);
        int handled = 0;
        // The "interrupt handler" reaps and writes the CQ head doorbell while the controller is still in its doorbell write.
        p.Rc.InterruptController.MessageReceived += m =>
        {
            if (m.Vector != q.HostVector) return;
            while (d.TryReap(q, out _)) handled++;
        };
        for (int i = 0; i < 4; i++) d.Enqueue(q, Flush1);
        d.RingSqDoorbell(q);
        Assert.That(handled, Is.EqualTo(4));
        Assert.That(p.Controller.IsFatal, Is.False);
    }

    [Test]
    public void BusMasterDisabled_CommandsCannotBeFetched_ControllerFatal_NoExceptionEscapes()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var addr = new PciAddress(0, p.Function.Bdf);
        p.Rc.Read(addr, PciRegs.Command, 2, out uint cmd);
        p.Rc.Write(addr, PciRegs.Command, 2, cmd & ~(uint)PciCommand.BusMaster);
        var q = d.IoQueue(1);
        d.Submit(q, Flush1);
        Assert.That(p.Controller.IsFatal, Is.True, "CSTS.CFS: the command could not be fetched");
        Assert.That(d.Read32(NvmeRegisters.Csts) & 2, Is.EqualTo(2u));
        Assert.That(p.Ns1.Flushes, Is.Zero);
        Assert.That(p.Rc.HostMemory.Read(q.CqBase, new byte[16]), Is.True);
        Assert.That(d.TryReap(q, out _), Is.False, "no completion was written");
        Assert.That(p.LogMessages(LogLevel.Error).Any(m => m.Contains("could not fetch")), Is.True);
        // Recovery by reset.
        p.Rc.Write(addr, PciRegs.Command, 2, cmd);
        var again = p.ReadyDriver();
        Assert.That(again.ExecuteIo(1, Flush1).Status, Is.EqualTo(NvmeStatus.Success));
    }

    [Test]
    public void CompletionQueueOutsideRam_IsControllerFatal()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 1 });
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.DeleteIoSubmissionQueue, Cdw10 = 1 }).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.DeleteIoCompletionQueue, Cdw10 = 1 }).Status, Is.EqualTo(NvmeStatus.Success));
        ulong sq = p.Memory.Allocate(64 * 4);
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoCompletionQueue, Prp1 = 0x2000_0000, Cdw10 = 1u | 3u << 16, Cdw11 = 1 }).Status,
            Is.EqualTo(NvmeStatus.Success), "the controller cannot know the address is not RAM until it writes");
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoSubmissionQueue, Prp1 = sq, Cdw10 = 1u | 3u << 16, Cdw11 = 1u | 1u << 16 }).Status,
            Is.EqualTo(NvmeStatus.Success));
        var ring = d.AdoptQueuePair(1, sq, 0x2000_0000, 4, 4, 0);
        d.Submit(ring, Flush1);
        Assert.That(p.Controller.IsFatal, Is.True);
        Assert.That(p.LogMessages(LogLevel.Error).Any(m => m.Contains("could not post a completion to CQ 1")), Is.True);
    }

    sealed class RecordingObserver : INvmeCommandObserver
    {
        public List<NvmeCommandRecord> Records { get; } = [];
        public void OnCommandCompleted(in NvmeCommandRecord record) => Records.Add(record);
    }
}
