using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;

namespace PcieVirt.Platform;

// Hot-plug: after a hot-add on a downstream port, the host rescans that slot only (as Linux's pciehp
// does), so functions already running keep their bus numbers and BARs.
public sealed partial class HostSystem
{
    /// <summary>
    /// Rescans the hot-plug slot below downstream port <paramref name="port"/>: new functions get BARs from
    /// the window the port reserved at boot; the host's record and OS view are updated; nothing else moves.
    /// Returns the slot's own report (its failures say what could not be placed).
    /// </summary>
    public EnumerationReport RescanSlot(Bdf port)
    {
        if (Enumeration is not { } before) throw new InvalidOperationException($"{Name}: enumerate the host before rescanning a slot");
        var slot = new FirmwareEnumerator(RootComplex, null, _log).RescanSlot(port);
        RootComplex.Read(new PciAddress(RootComplex.Segment, port), PciRegs.PrimaryBus, 4, out uint buses);
        int first = (int)(buses >> 8) & 0xFF, last = (int)(buses >> 16) & 0xFF;
        var merged = before.WithSlot(slot, first, last);
        Enumeration = merged;
        _resources = BuildResources(merged);
        FindSriovPfs(merged);
        // The OS initialises SR-IOV on the slot's new PFs only; its other PFs keep their VFs running.
        OsBoot = Os.RescanBuses(first, last);
        foreach (var f in slot.Failures) Building.Log.EnumerationFailure(_log, Name, f.ToString());
        return slot;
    }
}
