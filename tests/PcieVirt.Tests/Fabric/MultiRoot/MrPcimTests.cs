using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using static PcieVirt.Tests.Fabric.MultiRoot.MraTopology;

namespace PcieVirt.Tests.Fabric.MultiRoot;

public class MrPcimTests
{
    // Slot Status (PCIe capability +1Ah, §7.5.3.11), Link Status (+12h, §7.5.3.8).
    const int SlotStatus = 0x1A, LinkStatus = 0x12;
    const uint PresenceDetectChanged = 1 << 3, PresenceDetectState = 1 << 6, DllStateChanged = 1 << 8, DllLinkActive = 1 << 13;

    static uint PortReg(RootComplex rc, DownstreamPort port, int reg)
    {
        int cap = CapabilityWalker.FindCapability(port.Function.Config, CapabilityIds.PciExpress);
        Assert.That(rc.Read(new PciAddress(rc.Segment, port.Function.Bdf), cap + reg, 2, out uint v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        return v;
    }

    static void ClearSlotEvents(RootComplex rc, DownstreamPort port)
    {
        int cap = CapabilityWalker.FindCapability(port.Function.Config, CapabilityIds.PciExpress);
        rc.Write(new PciAddress(rc.Segment, port.Function.Bdf), cap + SlotStatus, 2, PresenceDetectChanged | DllStateChanged);
    }

    [Test]
    public void Move_is_a_hot_remove_in_the_old_vh_and_a_hot_add_in_the_new_one()
    {
        var t = new MraTopology().Boot();
        var oldPort = t.Vh1.VirtualDownstreamPorts[0];
        ClearSlotEvents(t.Host1, oldPort);
        Assert.That(PortReg(t.Host1, oldPort, SlotStatus) & (PresenceDetectChanged | DllStateChanged), Is.Zero, "RW1C cleared");
        var oldBdf = t.Pf0.Bdf;

        var r = t.Manager.Move(t.DevicePort, 0, t.Vh2.Id);
        Assert.That(r.IsSuccess, r.ToString());

        // Old VH: presence clear, Presence Detect Changed and DLL State Changed set, link down; PF0 gone (UR).
        uint oldSlot = PortReg(t.Host1, oldPort, SlotStatus);
        Assert.That(oldSlot & PresenceDetectState, Is.Zero);
        Assert.That(oldSlot & (PresenceDetectChanged | DllStateChanged), Is.EqualTo(PresenceDetectChanged | DllStateChanged));
        Assert.That(PortReg(t.Host1, oldPort, LinkStatus) & DllLinkActive, Is.Zero);
        Assert.That(Read(t.Host1, oldBdf, 0, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));

        // New VH: the next free virtual downstream port (1; PF1 holds 0) reports presence and the change.
        var newPort = t.Vh2.VirtualDownstreamPorts[1];
        uint newSlot = PortReg(t.Host2, newPort, SlotStatus);
        Assert.That(newSlot & (PresenceDetectState | PresenceDetectChanged | DllStateChanged),
            Is.EqualTo(PresenceDetectState | PresenceDetectChanged | DllStateChanged));
        Assert.That(PortReg(t.Host2, newPort, LinkStatus) & DllLinkActive, Is.Not.Zero);
        // Its link bus was reserved by firmware at boot, so PF0 answers there before any rescan, unconfigured.
        Assert.That(Read(t.Host2, new Bdf(newPort.Function.SecondaryBus, 0, 0), 0, out uint id), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(id, Is.EqualTo(0x0A00_1B36u));
        Assert.That(t.Pf0.Config.Read32(PciRegs.Bar0), Is.EqualTo(0x4u), "reset on the move: BAR unassigned (64-bit memory type bits only)");

        // The BF table and discovery follow; the device link now tags PF0's traffic with VH2's tag.
        Assert.That(t.Manager.Discover()[0].PfToVh, Is.EqualTo(new int?[] { t.Vh2.Id, t.Vh2.Id }));
        Assert.That(t.Bf.MrIov.VhOf(0), Is.EqualTo(t.Vh2.Id));

        // After host 2 rescans (here: firmware enumeration again), PF0's DMA lands in host 2's memory only.
        Enumerate(t.Host2);
        Assert.That(t.Host2.FindFunction(t.Pf0.Bdf), Is.SameAs(t.Pf0));
        byte[] data = [9, 8, 7, 6];
        Assert.That(t.Pf0.Upstream!.MemoryWrite(t.Pf0.Bdf, 0x2000, data), Is.True);
        var h1 = new byte[4];
        var h2 = new byte[4];
        t.Host1.HostMemory.Read(0x2000, h1);
        t.Host2.HostMemory.Read(0x2000, h2);
        Assert.That(h2, Is.EqualTo(data));
        Assert.That(h1, Is.All.EqualTo(0));
        Assert.That(t.DevicePort.Link.Count(1, MrTlpKind.MWr), Is.EqualTo(1), "VH2's tag on the device link");
    }

    [Test]
    public void Cxl_bind_and_unbind_are_the_same_operations()
    {
        var t = new MraTopology().Boot();
        var port = t.Vh1.VirtualDownstreamPorts[0];
        Assert.That(t.Manager.UnbindVppb(t.Vh1.Id, 0).IsSuccess);
        Assert.That(t.Switch.BindingOf(t.DevicePort, 0), Is.Null);
        Assert.That(t.Bf.MrIov.VhOf(0), Is.Null);
        Assert.That(port.IsOccupied, Is.False);
        Assert.That(t.Manager.BindVppb(vcsId: t.Vh1.Id, vppbId: 3, physicalPortId: 0, ldId: 0).IsSuccess);
        var b = t.Switch.BindingOf(t.DevicePort, 0)!.Value;
        Assert.That((b.Vh, b.VirtualPort), Is.EqualTo((t.Vh1, 3)));
        Assert.That(t.Vh1.VirtualDownstreamPorts[3].Device!.Functions[0], Is.SameAs(t.Pf0));
    }

    [Test]
    public void Refused_operations_change_nothing()
    {
        var t = new MraTopology().Boot();
        Assert.That(t.Manager.Assign(t.DevicePort, 0, 0).Error, Does.Contain("management VH"));
        Assert.That(t.Manager.Assign(t.DevicePort, 5, t.Vh2.Id).Error, Does.Contain("no PF 5"));
        Assert.That(t.Manager.Assign(t.DevicePort, 0, 9).Error, Does.Contain("no VH 9"));
        Assert.That(t.Manager.Move(t.DevicePort, 0, t.Vh2.Id, virtualPort: 0).Error, Does.Contain("already holds"));
        Assert.That(t.Manager.UnbindVppb(t.Vh2.Id, 2).Error, Does.Contain("not bound"));
        Assert.That(t.Manager.BindVppb(t.Vh2.Id, 1, physicalPortId: 4, ldId: 0).Error, Does.Contain("no physical port"));
        Assert.That(t.Switch.BindingOf(t.DevicePort, 0)!.Value.Vh, Is.SameAs(t.Vh1));
        Assert.That(t.Bf.MrIov.VhOf(0), Is.EqualTo(t.Vh1.Id));
        Assert.That(t.Host1.FindFunction(t.Pf0.Bdf), Is.SameAs(t.Pf0));
    }

    [Test]
    public void Manager_needs_the_management_vh_enumerated()
    {
        var t = new MraTopology();
        var r = t.Manager.Assign(t.DevicePort, 0, t.Vh1.Id);
        Assert.That(r.IsSuccess, Is.False);
        Assert.That(r.Error, Does.Contain("not reachable from VH0"));
        Assert.That(t.Switch.BindingOf(t.DevicePort, 0), Is.Null);
    }
}
