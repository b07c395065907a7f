using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Pci;
using PcieVirt.Tests.Support;
using Vtd = PcieVirt.Hypervisor.Iommu.Iommu;

namespace PcieVirt.Tests.Hypervisor.Iommu;

/// <summary>Interrupt remapping (VT-d §5.1) and posting (§5.2) at the IOMMU, without the fabric.</summary>
[TestFixture]
public class IommuInterruptRemapTests
{
    static readonly Bdf Vf = new(3, 0, 1);
    static readonly Bdf Other = new(3, 0, 2);

    [TestCase(0, 0xFEE0_0010UL)]
    [TestCase(1, 0xFEE0_0030UL)]
    [TestCase(0x7FFF, 0xFEEF_FFF0UL)]
    [TestCase(0x8001, 0xFEE0_0034UL)] // handle bit 15 goes to address bit 2
    public void RemappableMsiAddress_PutsTheHandleInBits19To5AndBit2(int handle, ulong expected) =>
        Assert.That(Vtd.RemappableMsiAddress(handle), Is.EqualTo(expected));

    [Test]
    public void CompatibilityFormat_PassesThroughUnlessBlocked()
    {
        var iommu = new Vtd();
        Assert.That(iommu.RemapInterrupt(Vf, 0xFEE0_1000, 0x41, out ulong a, out uint d), Is.EqualTo(InterruptRemapOutcome.PassThrough));
        Assert.That((a, d), Is.EqualTo((0xFEE0_1000UL, 0x41u)));
        iommu.BlockCompatibilityFormat = true;
        Assert.That(iommu.RemapInterrupt(Vf, 0xFEE0_1000, 0x41, out _, out _), Is.EqualTo(InterruptRemapOutcome.Blocked));
        Assert.That(iommu.LastFault, Is.EqualTo(new IommuFault(Vf, 0xFEE0_1000, true, IommuFaultReason.CompatibilityFormatBlocked)));
    }

    [Test]
    public void RemappedEntry_ProducesACompatibilityMessageToItsDestination()
    {
        var iommu = new Vtd();
        int h = iommu.AllocateIrte();
        iommu.SetIrte(h, InterruptRemapEntry.Remapped(Vf, vector: 0x61, destination: 2));
        var outcome = iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(h), 0, out ulong a, out uint d);
        Assert.That(outcome, Is.EqualTo(InterruptRemapOutcome.Remapped));
        var msg = new MsiMessage(Vf, a, d);
        Assert.That((msg.DestinationId, msg.Vector), Is.EqualTo(((byte)2, (byte)0x61)));
        Assert.That(a & 0x10, Is.Zero, "the output is compatibility format");
        Assert.That(iommu.InterruptsRemapped, Is.EqualTo(1));
    }

    [Test]
    public void SubHandleValid_AddsTheDataToTheHandle()
    {
        var iommu = new Vtd();
        iommu.SetIrte(10, InterruptRemapEntry.Remapped(Vf, 0x70, 0));
        iommu.SetIrte(13, InterruptRemapEntry.Remapped(Vf, 0x73, 0));
        ulong shv = Vtd.RemappableMsiAddress(10) | 0x8;
        iommu.RemapInterrupt(Vf, shv, 3, out _, out uint d3);
        iommu.RemapInterrupt(Vf, shv, 0, out _, out uint d0);
        Assert.That((d3, d0), Is.EqualTo((0x73u, 0x70u)));
        iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(10), 3, out _, out uint noShv);
        Assert.That(noShv, Is.EqualTo(0x70u), "without SHV the data does not select the entry");
    }

    [Test]
    public void SubHandleValid_WithReservedDataBits_IsBlocked()
    {
        var iommu = new Vtd();
        iommu.SetIrte(1, InterruptRemapEntry.Remapped(Vf, 0x70, 0));
        ulong shv = Vtd.RemappableMsiAddress(1) | 0x8;
        Assert.That(iommu.RemapInterrupt(Vf, shv, 0x1_0000, out _, out _), Is.EqualTo(InterruptRemapOutcome.Blocked));
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.InterruptRequestReserved));
        Assert.That(iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(1), 0x1_0000, out _, out _), Is.EqualTo(InterruptRemapOutcome.Remapped),
            "with SHV clear the data is ignored");
    }

    [Test]
    public void WrongSource_NotPresent_OutOfRange_AreBlockedWithTheirReason()
    {
        var iommu = new Vtd(interruptRemapEntries: 16);
        int h = iommu.AllocateIrte();
        iommu.SetIrte(h, InterruptRemapEntry.Remapped(Vf, 0x61, 0));
        Assert.That(iommu.RemapInterrupt(Other, Vtd.RemappableMsiAddress(h), 0, out _, out _), Is.EqualTo(InterruptRemapOutcome.Blocked));
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.InterruptSourceIdMismatch));
        Assert.That(iommu.LastFault!.Value.Requester, Is.EqualTo(Other));
        Assert.That(iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(h + 1), 0, out _, out _), Is.EqualTo(InterruptRemapOutcome.Blocked));
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.InterruptEntryNotPresent));
        Assert.That(iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(16), 0, out _, out _), Is.EqualTo(InterruptRemapOutcome.Blocked));
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.InterruptIndexOutOfRange));
        Assert.That((iommu.InterruptsBlocked, iommu.TotalFaults), Is.EqualTo((3L, 3L)));
    }

    [Test]
    public void AllocateIrte_HandsOutFreeEntries_UntilFull()
    {
        var iommu = new Vtd(interruptRemapEntries: 2);
        Assert.That(iommu.AllocateIrte(), Is.EqualTo(0));
        Assert.That(iommu.AllocateIrte(), Is.EqualTo(1));
        Assert.Throws<InvalidOperationException>(() => iommu.AllocateIrte());
        iommu.FreeIrte(0);
        Assert.That(iommu.AllocateIrte(), Is.EqualTo(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => iommu.SetIrte(2, default));
        Assert.That(iommu.GetIrte(0).Present, Is.False, "allocated but not yet written");
    }

    [Test]
    public void PostedEntry_SetsThePirBit_NotifyingOnceWhileOnIsSet()
    {
        var iommu = new Vtd();
        var pid = new PostedInterruptDescriptor { NotificationVector = 0xF2 };
        int notified = 0;
        pid.Notification += _ => notified++;
        int h = iommu.AllocateIrte();
        iommu.SetIrte(h, InterruptRemapEntry.Posted(Vf, pid, guestVector: 0x51));
        for (int i = 0; i < 3; i++)
            Assert.That(iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(h), 0, out _, out _), Is.EqualTo(InterruptRemapOutcome.Posted));
        Assert.That(pid.IsPending(0x51), Is.True);
        Assert.That(pid.OutstandingNotification, Is.True);
        Assert.That(notified, Is.EqualTo(1));
        Assert.That(iommu.InterruptsPosted, Is.EqualTo(3));
    }

    [Test]
    public void RemapInterrupt_AllocatesNothing()
    {
        var iommu = new Vtd();
        var pid = new PostedInterruptDescriptor();
        iommu.SetIrte(0, InterruptRemapEntry.Posted(Vf, pid, 0x51));
        iommu.SetIrte(1, InterruptRemapEntry.Remapped(Vf, 0x61, 1));
        ulong sink = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                sink += (ulong)iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(0), 0, out _, out _);
                iommu.RemapInterrupt(Vf, Vtd.RemappableMsiAddress(1), 0, out ulong a, out uint d);
                sink += a + d;
                iommu.RemapInterrupt(Other, Vtd.RemappableMsiAddress(1), 0, out _, out _);
                iommu.RemapInterrupt(Vf, 0xFEE0_0000, 0x40, out a, out _);
                sink += a;
            }
        });
        Assert.That(bytes, Is.Zero);
        Assert.That(sink, Is.Not.Zero);
    }
}
