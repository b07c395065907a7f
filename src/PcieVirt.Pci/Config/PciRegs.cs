namespace PcieVirt.Pci.Config;

/// <summary>Offsets and bits of the common configuration header (PCIe Base Spec §7.5.1).</summary>
public static class PciRegs
{
    public const int VendorId = 0x00;
    public const int DeviceId = 0x02;
    public const int Command = 0x04;
    public const int Status = 0x06;
    public const int RevisionId = 0x08;
    public const int ClassProgIf = 0x09;
    public const int ClassCode = 0x09; // 24 bits: prog-if, sub-class, base class
    public const int CacheLineSize = 0x0C;
    public const int LatencyTimer = 0x0D;
    public const int HeaderType = 0x0E;
    public const int Bist = 0x0F;
    public const int Bar0 = 0x10;
    public const int CapabilitiesPointer = 0x34;
    public const int InterruptLine = 0x3C;
    public const int InterruptPin = 0x3D;

    // Type 0
    public const int CardbusCis = 0x28;
    public const int SubsystemVendorId = 0x2C;
    public const int SubsystemId = 0x2E;
    public const int ExpansionRomType0 = 0x30;
    public const int MinGnt = 0x3E;
    public const int MaxLat = 0x3F;

    // Type 1
    public const int PrimaryBus = 0x18;
    public const int SecondaryBus = 0x19;
    public const int SubordinateBus = 0x1A;
    public const int SecondaryLatencyTimer = 0x1B;
    public const int IoBase = 0x1C;
    public const int IoLimit = 0x1D;
    public const int SecondaryStatus = 0x1E;
    public const int MemoryBase = 0x20;
    public const int MemoryLimit = 0x22;
    public const int PrefetchableBase = 0x24;
    public const int PrefetchableLimit = 0x26;
    public const int PrefetchableBaseUpper = 0x28;
    public const int PrefetchableLimitUpper = 0x2C;
    public const int IoBaseUpper = 0x30;
    public const int IoLimitUpper = 0x32;
    public const int ExpansionRomType1 = 0x38;
    public const int BridgeControl = 0x3E;

    /// <summary>Start of the extended capability list (§7.6).</summary>
    public const int ExtendedCapabilities = 0x100;
}

/// <summary>Command register bits (§7.5.1.1.3).</summary>
[Flags]
public enum PciCommand : ushort
{
    IoSpace = 1 << 0,
    MemorySpace = 1 << 1,
    BusMaster = 1 << 2,
    SpecialCycles = 1 << 3,
    MemoryWriteInvalidate = 1 << 4,
    VgaPaletteSnoop = 1 << 5,
    ParityErrorResponse = 1 << 6,
    IdselStepping = 1 << 7,
    SerrEnable = 1 << 8,
    FastBackToBack = 1 << 9,
    InterruptDisable = 1 << 10,
}

/// <summary>Status register bits (§7.5.1.1.4).</summary>
[Flags]
public enum PciStatus : ushort
{
    ImmediateReadiness = 1 << 0,
    InterruptStatus = 1 << 3,
    CapabilitiesList = 1 << 4,
    MasterDataParityError = 1 << 8,
    SignaledTargetAbort = 1 << 11,
    ReceivedTargetAbort = 1 << 12,
    ReceivedMasterAbort = 1 << 13,
    SignaledSystemError = 1 << 14,
    DetectedParityError = 1 << 15,

    /// <summary>The RW1C error bits of Status / Secondary Status.</summary>
    ErrorBits = MasterDataParityError | SignaledTargetAbort | ReceivedTargetAbort | ReceivedMasterAbort
        | SignaledSystemError | DetectedParityError,
}

/// <summary>Bridge Control bits (§7.5.1.3.13).</summary>
[Flags]
public enum BridgeControl : ushort
{
    ParityErrorResponse = 1 << 0,
    SerrEnable = 1 << 1,
    IsaEnable = 1 << 2,
    VgaEnable = 1 << 3,
    Vga16Bit = 1 << 4,
    SecondaryBusReset = 1 << 6,
}
