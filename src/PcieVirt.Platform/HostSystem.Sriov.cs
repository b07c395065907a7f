using PcieVirt.Fabric;
using PcieVirt.Platform.HostOs;
using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Platform;

// What the host knows about SR-IOV VFs: they are not found by scanning (their Vendor ID reads FFFFh) but
// through their PF's SR-IOV capability, and their BARs are carved out of the PF's VF BAR resources the
// firmware sized for TotalVFs (§9.3.3.14: VF n's BAR k = VF BARk + (n−1) × per-VF size).
public sealed partial class HostSystem
{
    const int SriovControl = 0x08, SriovNumVfs = 0x10, SriovFirstVfOffset = 0x14, SriovVfStride = 0x16, SriovVfDeviceId = 0x1A;
    const uint SriovVfEnable = 1;

    /// <summary>A PF found at enumeration, its SR-IOV capability offset and its VF BAR resources (per VF).</summary>
    sealed record SriovPf(PciAddress Address, int Capability, BarResource[] PerVfBars);

    List<SriovPf> _sriovPfs = [];
    LinuxPciCore? _os;

    /// <summary>
    /// The host OS's PCI core (a model of Linux's SR-IOV support) working on this host's configuration
    /// space and virtual clock. It is booted after each firmware enumeration.
    /// </summary>
    public LinuxPciCore Os => _os ??= new LinuxPciCore(RootComplex, RootComplex.Clock, _log);

    /// <summary>The host OS's result of its last boot (null before the first enumeration).</summary>
    public OsResult? OsBoot { get; private set; }

    void OnEnumerated(EnumerationReport report)
    {
        FindSriovPfs(report);
        OsBoot = Os.Boot();
    }

    void FindSriovPfs(EnumerationReport report)
    {
        var pfs = new List<SriovPf>();
        foreach (var f in report.Functions)
        {
            if (f.IsBridge) continue;
            int cap = CapabilityWalker.FindExtendedCapability(this, f.Address, CapabilityIds.SingleRootIov);
            if (cap == 0) continue;
            var bars = new BarResource[6];
            foreach (var b in report.Bars)
            {
                if (b.Address != f.Address || b.Register != BarRegister.VfBar || !b.Assigned) continue;
                ulong flags = (b.Is64Bit ? 4u : 0u) | (b.Prefetchable ? 8u : 0u);
                // Firmware sized the resource for TotalVFs VFs; one VF's share is the BAR's alignment (its per-VF size).
                bars[b.Index] = new BarResource(b.Base | flags, b.Alignment);
            }
            pfs.Add(new SriovPf(f.Address, cap, bars));
        }
        _sriovPfs = pfs;
    }

    /// <summary>
    /// The host's description of a VF at <paramref name="address"/>: found through a PF whose VF Enable is set
    /// and whose NumVFs, First VF Offset and VF Stride (read now, through config) put a VF there; null otherwise.
    /// </summary>
    FunctionInfo? DescribeVirtualFunction(PciAddress address)
    {
        // VFs the OS added are described as it recorded them (Linux sysfs); VFs enabled behind its back
        // (setpci) are worked out from the PF's registers the same way.
        if (_os?.Describe(address) is { } known) return known;
        foreach (var pf in _sriovPfs)
        {
            if (pf.Address.Segment != address.Segment) continue;
            var bdf = pf.Address.Bdf;
            int cap = pf.Capability;
            if ((ConfigRead(pf.Address, cap + SriovControl, 2) & SriovVfEnable) == 0) continue;
            uint numVfs = ConfigRead(pf.Address, cap + SriovNumVfs, 2);
            uint offset = ConfigRead(pf.Address, cap + SriovFirstVfOffset, 2);
            uint stride = ConfigRead(pf.Address, cap + SriovVfStride, 2);
            if (numVfs == 0 || offset == 0) continue;
            // VF n's routing ID = PF + First VF Offset + (n−1) × VF Stride, in 16-bit arithmetic (§9.3.3.9-10).
            int delta = (ushort)(address.Bdf.Value - bdf.Value - offset);
            int index = stride == 0 ? (delta == 0 ? 0 : -1) : delta % (int)stride == 0 ? delta / (int)stride : -1;
            if (index < 0 || index >= numVfs) continue;
            var bars = new BarResource[6];
            for (int i = 0; i < 6; i++)
            {
                var r = pf.PerVfBars[i];
                if (r.Size != 0) bars[i] = new BarResource(r.Base + (ulong)index * r.Size, r.Size);
            }
            return new FunctionInfo(bars, IsVirtualFunction: true, PhysicalFunction: pf.Address,
                PresentedVendorId: (ushort)ConfigRead(pf.Address, 0x00, 2),
                PresentedDeviceId: (ushort)ConfigRead(pf.Address, cap + SriovVfDeviceId, 2));
        }
        return null;
    }

    uint ConfigRead(PciAddress a, int offset, int width) =>
        RootComplex.Read(a, offset, width, out uint v) == CompletionStatus.SuccessfulCompletion ? v : 0;
}
