using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Interrupts;

/// <summary>The virtual APIC's IRR/ISR and x86 priority rules (SDM Vol. 3A "Task and Processor Priorities", "Interrupt Acceptance for Fixed Interrupts").</summary>
[TestFixture]
public class VirtualApicTests
{
    [Test]
    public void Acknowledge_TakesTheHighestVector_AndMovesItToIsr()
    {
        var apic = new VirtualApic();
        apic.Raise(0x31);
        apic.Raise(0x85);
        apic.Raise(0x40);
        Assert.That(apic.HasDeliverable, Is.True);
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x85));
        Assert.That(apic.IsInService(0x85), Is.True);
        Assert.That(apic.IsRequested(0x85), Is.False);
    }

    [Test]
    public void SameOrLowerClass_WaitsForEoi_HigherClassNests()
    {
        var apic = new VirtualApic();
        apic.Raise(0x50);
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x50));
        apic.Raise(0x5F); // same class 5: higher vector but same priority class
        Assert.That(apic.HasDeliverable, Is.False);
        apic.Raise(0x41);
        Assert.That(apic.HasDeliverable, Is.False);
        apic.Raise(0x60); // class 6 nests over class 5
        Assert.That(apic.HasDeliverable, Is.True);
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x60));
        Assert.That(apic.HasDeliverable, Is.False);
        apic.Eoi(); // retires 0x60 (the highest in service)
        Assert.That(apic.IsInService(0x60), Is.False);
        Assert.That(apic.IsInService(0x50), Is.True);
        Assert.That(apic.HasDeliverable, Is.False, "0x5F still blocked by 0x50");
        apic.Eoi();
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x5F));
        apic.Eoi();
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x41));
        Assert.That((apic.Acknowledged, apic.Eois), Is.EqualTo((4L, 3L)));
    }

    [Test]
    public void TaskPriority_MasksClassesAtOrBelowIt()
    {
        var apic = new VirtualApic { TaskPriority = 0x70 };
        apic.Raise(0x7F);
        Assert.That(apic.HasDeliverable, Is.False);
        Assert.That(apic.ProcessorPriority, Is.EqualTo(0x70));
        apic.Raise(0x80);
        Assert.That(apic.Acknowledge(), Is.EqualTo(0x80));
        Assert.That(apic.ProcessorPriority, Is.EqualTo(0x80));
    }

    [Test]
    public void RaiseTwice_MergesIntoOneRequest()
    {
        var apic = new VirtualApic();
        apic.Raise(0x40);
        apic.Raise(0x40);
        apic.Acknowledge();
        Assert.That(apic.HasDeliverable, Is.False);
        Assert.That(apic.Raised, Is.EqualTo(2));
    }

    [Test]
    public void ReservedVectors_AreRefused_NothingToAcknowledge_Throws_EoiOnEmptyIsHarmless()
    {
        var apic = new VirtualApic();
        apic.Raise(5);
        Assert.That(apic.IllegalVectors, Is.EqualTo(1));
        Assert.That(apic.HasDeliverable, Is.False);
        Assert.Throws<InvalidOperationException>(() => apic.Acknowledge());
        apic.Eoi();
        Assert.That(apic.Eois, Is.Zero);
    }

    [Test]
    public void Operations_AllocateNothing()
    {
        var apic = new VirtualApic();
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                apic.Raise((byte)(0x20 + i % 200));
                if (apic.HasDeliverable) apic.Acknowledge();
                apic.Eoi();
            }
        });
        Assert.That(bytes, Is.Zero);
    }
}
