using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;

namespace PcieVirt.Tests.Devices.Qos;

public class TimedCompletionTests
{
    const ulong S = QosTestPlatform.Read4KServiceNs;

    [Test]
    public void Completions_ArePostedWhenTheClockReachesThem_InServiceOrder()
    {
        var p = new QosTestPlatform(qos: false);
        var d = p.ReadyDriver(p.A);
        var q = d.IoQueue(1);
        ulong buf = p.Memory.Allocate(4096);
        for (int i = 0; i < 3; i++) d.Enqueue(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw10 = (uint)(8 * i), Cdw12 = 7 });
        d.RingSqDoorbell(q);
        var c = p.A.Controller;
        Assert.That(c.CommandsInFlight, Is.EqualTo(3));
        Assert.That(d.TryReap(q, out _), Is.False, "nothing is due at t = 0");
        Assert.That(c.NextCompletionNs, Is.EqualTo(S));
        p.Clock.NowNs = 2 * S - 1;
        c.ProcessPending();
        Assert.That(d.TryReap(q, out var first), Is.True);
        Assert.That(d.TryReap(q, out _), Is.False, "the second is due at 2 x service");
        p.Clock.NowNs = 3 * S;
        c.ProcessPending();
        Assert.That(d.TryReap(q, out var second), Is.True);
        Assert.That(d.TryReap(q, out var third), Is.True);
        Assert.That(new[] { first.CommandId, second.CommandId, third.CommandId }, Is.Ordered, "one channel: completions in fetch order");
        Assert.That(c.CommandsInFlight, Is.Zero);
    }

    [Test]
    public void ControllerReset_DropsCommandsInExecution_NoCompletionAfterwards()
    {
        var p = new QosTestPlatform(qos: false, logLevel: Microsoft.Extensions.Logging.LogLevel.Debug);
        var d = p.ReadyDriver(p.A);
        var q = d.IoQueue(1);
        ulong buf = p.Memory.Allocate(4096);
        d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf, Cdw12 = 7 });
        var c = p.A.Controller;
        long completed = c.CommandsCompleted;
        Assert.That(c.CommandsInFlight, Is.EqualTo(1));
        d.DisableController(); // CC.EN 1 -> 0: Controller Level Reset (§7.3.2)
        Assert.That(c.CommandsInFlight, Is.Zero);
        p.Clock.NowNs = 10 * S;
        c.ProcessPending();
        Assert.That(c.CommandsCompleted, Is.EqualTo(completed), "no completion is posted for a dropped command");
        Assert.That(p.Logs.Entries.Any(e => e.Message.Contains("dropped by the reset")), Is.True);
    }
}
