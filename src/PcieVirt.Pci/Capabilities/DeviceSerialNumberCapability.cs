using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// Device Serial Number extended capability (PCIe Base Spec, "Device Serial Number Extended Capability" in
/// chapter 7): a read-only 64-bit IEEE EUI-64 identifier, lower DWORD at +4 and upper DWORD at +8.
/// </summary>
public sealed class DeviceSerialNumberCapability(ulong serialNumber) : PciExtendedCapability
{
    public ulong SerialNumber { get; } = serialNumber;
    public override ushort Id => CapabilityIds.DeviceSerialNumber;
    public override string Name => "Device Serial Number";
    public override int Length => 12;

    protected override void Layout(ConfigSpace config, int offset)
    {
        Def(0x04, 4, (uint)SerialNumber);
        Def(0x08, 4, (uint)(SerialNumber >> 32));
    }
}
