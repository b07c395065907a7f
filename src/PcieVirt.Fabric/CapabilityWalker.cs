using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Fabric;

/// <summary>
/// Finds capabilities by walking the lists in configuration space as software does: the legacy
/// list from the Capabilities Pointer (0x34, §7.5.1.1.11 / §7.5.2) and the extended list from 0x100
/// (§7.6.2). Works on any function implementation because it only reads registers. Malformed lists
/// (loops, pointers into the header) end the walk instead of hanging.
/// </summary>
public static class CapabilityWalker
{
    // Offsets inside the PCI Express capability (§7.5.3).
    public const int PcieCapabilitiesRegister = 0x02;
    public const int PcieDeviceStatus = 0x0A;
    public const int PcieDeviceCapabilities2 = 0x24;
    public const int PcieDeviceControl2 = 0x28;
    /// <summary>Root Control (root ports, §7.5.3.12).</summary>
    public const int PcieRootControl = 0x1C;
    /// <summary>Link Control, offset in the PCI Express capability (§7.5.3.7).</summary>
    public const int PcieLinkControl = 0x10;
    /// <summary>Link Disable in Link Control.</summary>
    public const byte LinkDisableBit = 1 << 4;
    /// <summary>Root Control bit 4: CRS Software Visibility Enable (§7.5.3.12).</summary>
    public const byte CrsSoftwareVisibilityBit = 1 << 4;
    /// <summary>Device Capabilities 2 bit 5 (ARI Forwarding Supported) and Device Control 2 bit 5 (ARI Forwarding Enable).</summary>
    public const ushort AriForwardingBit = 1 << 5;
    /// <summary>Device Status bit 3: Unsupported Request Detected (RW1C).</summary>
    public const ushort UnsupportedRequestDetected = 1 << 3;

    const int MaxLegacy = (0x100 - 0x40) / 4;
    const int MaxExtended = (ConfigSpace.Size - 0x100) / 4;

    /// <summary>Offset of the legacy capability <paramref name="id"/>, or 0 when absent.</summary>
    public static int FindCapability(ConfigSpace config, byte id) =>
        FindLegacy(new SpaceReader(config), id);

    /// <summary>Offset of the extended capability <paramref name="id"/>, or 0 when absent.</summary>
    public static int FindExtendedCapability(ConfigSpace config, ushort id) =>
        FindExtended(new SpaceReader(config), id);

    /// <summary>Offset of the legacy capability <paramref name="id"/> read through config requests, or 0.</summary>
    public static int FindCapability(IConfigAccessor accessor, PciAddress function, byte id) =>
        FindLegacy(new AccessorReader(accessor, function), id);

    /// <summary>Offset of the extended capability <paramref name="id"/> read through config requests, or 0.</summary>
    public static int FindExtendedCapability(IConfigAccessor accessor, PciAddress function, ushort id) =>
        FindExtended(new AccessorReader(accessor, function), id);

    interface IReader
    {
        uint Read(int offset, int width);
    }

    readonly struct SpaceReader(ConfigSpace config) : IReader
    {
        public uint Read(int offset, int width) => config.Read(offset, width);
    }

    readonly struct AccessorReader(IConfigAccessor accessor, PciAddress address) : IReader
    {
        public uint Read(int offset, int width)
        {
            accessor.Read(address, offset, width, out uint v);
            return v;
        }
    }

    static int FindLegacy<T>(T r, byte id) where T : struct, IReader
    {
        // Status bit 4 says whether the list exists at all (§7.5.1.1.4).
        uint status = r.Read(0x06, 2);
        if (status == 0xFFFF || (status & 0x10) == 0) return 0;
        int ptr = (int)r.Read(0x34, 1) & 0xFC; // bottom two bits are reserved
        for (int i = 0; i < MaxLegacy && ptr >= 0x40; i++)
        {
            uint hdr = r.Read(ptr, 2);
            if ((hdr & 0xFF) == id) return ptr;
            ptr = (int)(hdr >> 8) & 0xFC;
        }
        return 0;
    }

    static int FindExtended<T>(T r, ushort id) where T : struct, IReader
    {
        int ptr = 0x100;
        for (int i = 0; i < MaxExtended && ptr >= 0x100; i++)
        {
            uint hdr = r.Read(ptr, 4);
            if (hdr == 0 || hdr == 0xFFFF_FFFF) return 0;
            if ((hdr & 0xFFFF) == id) return ptr;
            ptr = (int)(hdr >> 20) & 0xFFC;
        }
        return 0;
    }
}
