using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Tests.Hypervisor.Sim;

public class SerialActorTests
{
    [Test]
    public void Book_WhenIdle_StartsAtArrival()
    {
        var a = new SerialActor("vcpu0", isHostCpu: false);
        Assert.That(a.Book(1_000, 300), Is.EqualTo(1_000));
        Assert.That(a.FreeAt, Is.EqualTo(1_300));
        Assert.That(a.BusyNs, Is.EqualTo(300));
        Assert.That(a.Name, Is.EqualTo("vcpu0"));
        Assert.That(a.IsHostCpu, Is.False);
    }

    [Test]
    public void Book_WhenBusy_QueuesFifo_AfterTheWorkAlreadyBooked()
    {
        var a = new SerialActor("iothread", isHostCpu: true);
        a.Book(0, 1_000);
        Assert.That(a.Book(200, 500), Is.EqualTo(1_000), "waits for the first");
        Assert.That(a.Book(300, 100), Is.EqualTo(1_500), "and the second");
        Assert.That(a.FreeAt, Is.EqualTo(1_600));
        Assert.That(a.BusyNs, Is.EqualTo(1_600));
    }

    [Test]
    public void Book_AfterAnIdleGap_BusyTimeExcludesTheGap()
    {
        var a = new SerialActor("vmm", isHostCpu: true);
        a.Book(0, 100);
        Assert.That(a.Book(10_000, 100), Is.EqualTo(10_000));
        Assert.That(a.BusyNs, Is.EqualTo(200));
    }

    [Test]
    public void Extend_LengthensTheWorkInProgress()
    {
        var a = new SerialActor("vmm", isHostCpu: true);
        a.Book(100, 400);
        a.Extend(250);
        Assert.That(a.FreeAt, Is.EqualTo(750));
        Assert.That(a.BusyNs, Is.EqualTo(650));
        Assert.That(a.Book(600, 10), Is.EqualTo(750), "later work waits for the extension");
    }

    [Test]
    public void ResetCounters_ClearsBusyTime_ButKeepsBookedWork()
    {
        var a = new SerialActor("vmm", isHostCpu: true);
        a.Book(0, 1_000);
        a.ResetCounters();
        Assert.That(a.BusyNs, Is.Zero);
        Assert.That(a.FreeAt, Is.EqualTo(1_000), "work in progress is still in progress");
        Assert.That(a.Book(0, 10), Is.EqualTo(1_000));
    }
}
