using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>
/// The fabric's side of one SR-IOV PF: it listens to the PF's <see cref="SriovCapability"/> and
/// places the VFs on the PF's bus, or on the bus numbers after it, when VF Enable creates them, so
/// configuration and ID-routed requests reach them exactly like any other function; it removes exactly
/// those VFs again when VF Enable clears or the PF resets. Memory requests reach VF BAR space through
/// <see cref="TryDecodeMemory"/>, which asks the capability arithmetically instead of every VF.
/// </summary>
internal sealed class SriovAttachment
{
    readonly FunctionSlot _pf;
    FunctionSlot?[] _vfSlots = [];
    int _placed;

    public SriovAttachment(FunctionSlot pf, SriovCapability capability)
    {
        _pf = pf;
        Capability = capability;
    }

    public SriovCapability Capability { get; }
    RootComplex RootComplex => _pf.Bus.RootComplex;

    /// <summary>Starts following the capability; VFs that already exist are placed now.</summary>
    public void Connect()
    {
        var clock = RootComplex.Clock;
        Capability.Clock = () => clock.Now;
        Capability.VfsEnabled += OnVfsEnabled;
        Capability.VfsDisabled += OnVfsDisabled;
        if (Capability.VirtualFunctions.Count > 0) Place(Capability.VirtualFunctions);
    }

    /// <summary>The PF leaves the fabric: stop following it and take its VFs out with it.</summary>
    public void Disconnect()
    {
        Capability.VfsEnabled -= OnVfsEnabled;
        Capability.VfsDisabled -= OnVfsDisabled;
        RemoveAll();
    }

    void OnVfsEnabled(SriovCapability cap, IReadOnlyList<VirtualFunction> vfs) => Place(vfs);

    void OnVfsDisabled(SriovCapability cap, IReadOnlyList<VirtualFunction> removed)
    {
        var slots = new List<FunctionSlot>(removed.Count);
        foreach (var vf in removed)
            if ((uint)vf.VfIndex < (uint)_vfSlots.Length && _vfSlots[vf.VfIndex] is { } s && s.Function == vf)
            {
                slots.Add(s);
                _vfSlots[vf.VfIndex] = null;
            }
        Detach(slots);
    }

    /// <summary>
    /// Where VF <paramref name="vf"/> sits relative to the PF's bus: the routing-ID offset is added to the
    /// PF's device/function byte, the carry goes into the bus number (§9.3.3.9-10). Null when the result
    /// runs past bus FFh (the spec forbids it; the VF cannot be addressed).
    /// </summary>
    BusPlacement? PlacementOf(VirtualFunction vf)
    {
        int sum = _pf.Placement.BusOffset << 8 | _pf.DevFn;
        sum += vf.RoutingIdOffset;
        int busOffset = sum >> 8;
        if (busOffset > 255 || _pf.Bus.Number + busOffset > 255) return null;
        return new BusPlacement(busOffset, sum & 0xFF);
    }

    void Place(IReadOnlyList<VirtualFunction> vfs)
    {
        RemoveAll();
        if (vfs.Count == 0) return;
        _vfSlots = new FunctionSlot?[vfs.Count];
        var batch = new List<(BusPlacement, PciFunction)>(vfs.Count);
        int lost = 0;
        string? firstLost = null, lostReason = null;
        foreach (var vf in vfs)
        {
            var p = PlacementOf(vf);
            string? reason = p == null ? "its routing ID runs past bus ff"
                : _pf.Bus.FunctionAt(p.Value) is { } other ? $"{other.Name} already sits at that routing ID" : null;
            if (reason != null)
            {
                lost++;
                firstLost ??= $"VF{vf.VfNumber}";
                lostReason ??= reason;
                continue;
            }
            batch.Add((p!.Value, vf));
        }
        var slots = _pf.Bus.AttachMany(batch);
        ulong readyAt = Capability.VfConfigReadyTimeNs;
        foreach (var s in slots)
        {
            s.ConfigReadyAtNs = readyAt;
            _vfSlots[((VirtualFunction)s.Function).VfIndex] = s;
        }
        _placed = slots.Count;
        if (lost > 0) Log.VfsNotPlaced(RootComplex.Logger, _pf.Function.Name, lost, firstLost!, lostReason!);
        if (slots.Count > 0)
            Log.VfsPlaced(RootComplex.Logger, _pf.Function.Name, slots.Count, slots[0].Function.Bdf, slots[^1].Function.Bdf);
        CheckReachable();
    }

    void RemoveAll()
    {
        if (_placed == 0)
        {
            _vfSlots = [];
            return;
        }
        var slots = new List<FunctionSlot>(_placed);
        foreach (var s in _vfSlots) if (s != null) slots.Add(s);
        _vfSlots = [];
        Detach(slots);
    }

    void Detach(List<FunctionSlot> slots)
    {
        if (slots.Count == 0) return;
        _pf.Bus.DetachMany(slots);
        _placed -= slots.Count;
        if (_placed <= 0)
        {
            _placed = 0;
            _vfSlots = [];
        }
        Log.VfsUnplaced(RootComplex.Logger, _pf.Function.Name, slots.Count);
    }

    /// <summary>
    /// After the PF's bus number changed: the VFs' routing IDs follow (the capability's view too), and a VF
    /// whose routing ID now runs past bus FFh, or that now fits, is taken out or put in.
    /// </summary>
    public void OnBusRenumbered()
    {
        Capability.UpdateRoutingIds();
        var vfs = Capability.VirtualFunctions;
        if (vfs.Count == 0) return;
        bool changed = false;
        foreach (var vf in vfs)
        {
            bool placed = (uint)vf.VfIndex < (uint)_vfSlots.Length && _vfSlots[vf.VfIndex] != null;
            if (placed != (PlacementOf(vf) != null)) changed = true;
        }
        if (changed) Place(vfs);
        else CheckReachable();
    }

    /// <summary>
    /// Configuration requests reach a bus number only when the bridges above forward it: a VF on a bus
    /// beyond the upstream bridge's Subordinate Bus Number (or, below the root bus, on any other bus) is
    /// unreachable, as on real hardware (§7.3.3). Logged once per placement or renumbering.
    /// </summary>
    void CheckReachable()
    {
        var bus = _pf.Bus;
        int limit = bus.Bridge?.SubordinateBus ?? bus.Number;
        int count = 0;
        Bdf first = default, last = default;
        foreach (var s in _vfSlots)
        {
            if (s == null || s.Function.Bdf.Bus <= limit) continue;
            if (count++ == 0) first = s.Function.Bdf;
            last = s.Function.Bdf;
        }
        if (count > 0) Log.VfsUnreachable(RootComplex.Logger, _pf.Function.Name, count, first, last, limit);
    }

    /// <summary>
    /// Does a memory request hit the BAR space of one of this PF's VFs? Needs VF Enable and VF MSE
    /// (§9.3.3.3.4); one arithmetic check per VF BAR, whatever the number of VFs. Allocation-free.
    /// </summary>
    public bool TryDecodeMemory(ulong address, out FunctionSlot? vfSlot, out int bar, out ulong offset)
    {
        vfSlot = null;
        if (_placed == 0 || !Capability.TryDecodeVfMemory(address, out var vf, out bar, out offset))
        {
            bar = -1;
            offset = 0;
            return false;
        }
        int i = vf!.VfIndex;
        vfSlot = (uint)i < (uint)_vfSlots.Length ? _vfSlots[i] : null;
        return vfSlot != null;
    }
}
