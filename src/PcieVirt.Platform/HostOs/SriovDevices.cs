using PcieVirt.Fabric;

namespace PcieVirt.Platform.HostOs;

/// <summary>
/// What the host OS keeps about one SR-IOV PF after <c>sriov_init</c> (Linux's <c>struct pci_sriov</c>):
/// the capability's position, the values it read and the VF BAR resources it sized, and the VFs it added.
/// </summary>
public sealed class SriovPhysicalFunction
{
    internal SriovPhysicalFunction(PciAddress address, int capability)
    {
        Address = address;
        Capability = capability;
    }

    /// <summary>The PF's address.</summary>
    public PciAddress Address { get; }
    /// <summary>Config offset of the SR-IOV extended capability.</summary>
    public int Capability { get; }
    /// <summary>TotalVFs as read at init (<c>sriov_totalvfs</c>).</summary>
    public ushort TotalVfs { get; internal set; }
    /// <summary>VFs the OS has added (0 when SR-IOV is disabled).</summary>
    public int NumVfs { get; internal set; }
    /// <summary>First VF Offset as last read (after the last NumVFs write).</summary>
    public ushort FirstVfOffset { get; internal set; }
    /// <summary>VF Stride as last read.</summary>
    public ushort VfStride { get; internal set; }
    /// <summary>VF Device ID as read at init (<c>sriov_vf_device</c>; each VF's presented Device ID).</summary>
    public ushort VfDeviceId { get; internal set; }
    /// <summary>The PF's own Vendor ID, which the OS presents for its VFs.</summary>
    public ushort VendorId { get; internal set; }
    /// <summary>SR-IOV Capabilities register.</summary>
    public uint Capabilities { get; internal set; }
    public byte FunctionDependencyLink { get; internal set; }
    /// <summary>System Page Size value written (one bit: 2^(n+12) bytes).</summary>
    public uint SystemPageSize { get; internal set; }
    /// <summary>SR-IOV Control as the OS keeps it apart from VF Enable / VF MSE (ARI Capable Hierarchy or 0).</summary>
    public ushort Control { get; internal set; }
    /// <summary>The six VF BAR resources, each for TotalVFs VFs (base with BAR flag bits, size), as sized at init.</summary>
    public IReadOnlyList<BarResource> VfBars => _vfBars;
    /// <summary>Bytes one VF's BAR n decodes.</summary>
    public IReadOnlyList<ulong> VfBarSizes => _vfBarSizes;
    /// <summary>Highest bus number VFs can reach for any NumVFs (found by probing NumVFs = TotalVFs … 1).</summary>
    public int MaxVfBus { get; internal set; }
    /// <summary>The bus numbers the PF's bus may use: the PF's bus through the upstream bridge's Subordinate Bus Number.</summary>
    public (int First, int Last) BusRange { get; internal set; }
    /// <summary>The VFs the OS added, by VF index (virtfnN).</summary>
    public IReadOnlyList<VirtualFunctionDevice> VirtualFunctions => _vfs;

    internal readonly BarResource[] _vfBars = new BarResource[6];
    internal readonly ulong[] _vfBarSizes = new ulong[6];
    internal ushort[] _lastVfBus = [];   // by NumVFs (index n, 1..TotalVFs): last bus the VFs reach
    internal readonly List<VirtualFunctionDevice> _vfs = [];

    /// <summary>Routing ID of VF index <paramref name="index"/> (0-based) with the current offset and stride.</summary>
    public PciAddress VfAddress(int index) =>
        new(Address.Segment, new Pci.Bdf((ushort)(Address.Bdf.Value + FirstVfOffset + index * VfStride)));
}

/// <summary>What the host OS learned when it scanned one VF (Linux's <c>struct pci_dev</c> of a VF).</summary>
/// <param name="Address">The VF's routing ID.</param>
/// <param name="Index">0-based VF index (the PF's <c>virtfnN</c> link).</param>
/// <param name="PhysicalFunction">The PF.</param>
/// <param name="VendorId">Presented Vendor ID (the PF's).</param>
/// <param name="DeviceId">Presented Device ID (the PF's VF Device ID).</param>
/// <param name="ClassRevision">Class Code and Revision ID dword (offset 08h).</param>
/// <param name="HeaderType">Header Type register.</param>
/// <param name="SubsystemVendorId">Subsystem Vendor ID.</param>
/// <param name="SubsystemId">Subsystem ID.</param>
/// <param name="Capabilities">Capability IDs found in the legacy list, in list order.</param>
/// <param name="PcieCapabilities">PCI Express Capabilities register (flags), 0 without the capability.</param>
/// <param name="DeviceCapabilities">Device Capabilities register of the PCI Express capability.</param>
/// <param name="MsixTableSize">MSI-X Table Size (entries), 0 without MSI-X.</param>
/// <param name="IntxMaskingBroken">True when the Interrupt Disable bit did not stick (VFs have no INTx).</param>
/// <param name="Bars">The VF's BAR resources: slices of the PF's VF BAR resources.</param>
public sealed record VirtualFunctionDevice(
    PciAddress Address, int Index, PciAddress PhysicalFunction, ushort VendorId, ushort DeviceId, uint ClassRevision,
    byte HeaderType, ushort SubsystemVendorId, ushort SubsystemId, IReadOnlyList<byte> Capabilities,
    ushort PcieCapabilities, uint DeviceCapabilities, int MsixTableSize, bool IntxMaskingBroken, IReadOnlyList<BarResource> Bars)
{
    /// <summary>As the host describes the VF to tools (lspci's sysfs view).</summary>
    public FunctionInfo ToFunctionInfo() =>
        new(Bars, IsVirtualFunction: true, PhysicalFunction: PhysicalFunction, PresentedVendorId: VendorId, PresentedDeviceId: DeviceId);
}
