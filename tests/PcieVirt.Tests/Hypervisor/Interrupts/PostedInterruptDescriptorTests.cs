using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Interrupts;

/// <summary>Posted-interrupt descriptor: PIR, ON and SN (VT-d §5.2.2-5.2.3, SDM Vol. 3C "Posted-Interrupt Processing").</summary>
[TestFixture]
public class PostedInterruptDescriptorTests
{
    [Test]
    public void FirstPost_Notifies_LaterPostsOnlySetPir()
    {
        var pid = new PostedInterruptDescriptor { NotificationVector = 0xF2, NotificationDestination = 1 };
        var seen = new List<PostedInterruptDescriptor>();
        pid.Notification += seen.Add;
        Assert.That(pid.Post(0x51), Is.True);
        Assert.That(pid.Post(0x52), Is.False);
        Assert.That(pid.Post(0x51), Is.False);
        Assert.That(seen, Is.EqualTo(new[] { pid }));
        Assert.That(pid.OutstandingNotification, Is.True);
        Assert.That(pid.IsPending(0x51) && pid.IsPending(0x52), Is.True);
        Assert.That((pid.Posts, pid.Notifications), Is.EqualTo((3L, 1L)));
    }

    [Test]
    public void SuppressNotification_AccumulatesWithoutNotifying()
    {
        var pid = new PostedInterruptDescriptor { SuppressNotification = true };
        Assert.That(pid.Post(0x60), Is.False);
        Assert.That(pid.OutstandingNotification, Is.False);
        Assert.That(pid.HasPending, Is.True);
        pid.SuppressNotification = false; // the vCPU is scheduled again
        Assert.That(pid.Post(0x61), Is.True);
    }

    [Test]
    public void SyncTo_MovesEveryPirBitIntoIrr_AndClearsOn()
    {
        var pid = new PostedInterruptDescriptor();
        foreach (byte v in new byte[] { 0x20, 0x51, 0x90, 0xFF }) pid.Post(v);
        var apic = new VirtualApic();
        apic.Raise(0x51); // already requested: merges
        Assert.That(pid.SyncTo(apic), Is.EqualTo(4));
        Assert.That(pid.HasPending, Is.False);
        Assert.That(pid.OutstandingNotification, Is.False);
        Assert.That(new byte[] { 0x20, 0x51, 0x90, 0xFF }.All(apic.IsRequested), Is.True);
        Assert.That(apic.Acknowledge(), Is.EqualTo(0xFF));
        Assert.That(pid.SyncTo(apic), Is.Zero, "nothing left to move");
        Assert.That(pid.Post(0x30), Is.True, "ON was cleared, so the next post notifies");
    }

    [Test]
    public void PostAndSync_AllocateNothing()
    {
        var pid = new PostedInterruptDescriptor();
        var apic = new VirtualApic();
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                pid.Post((byte)(0x20 + i % 200));
                pid.SyncTo(apic);
                if (apic.HasDeliverable) apic.Acknowledge();
                apic.Eoi();
            }
        });
        Assert.That(bytes, Is.Zero);
    }
}
