namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// Capability IDs: the 8-bit IDs of the legacy list (§7.5.2 ff., PCI Code and ID Assignment
/// Specification) and the 16-bit IDs of the extended list (§7.6.3). Includes IDs this project
/// implements later (SR-IOV, MR-IOV, ATS, PASID…) so every layer names them the same way.
/// </summary>
public static class CapabilityIds
{
    // ---- Legacy (PCI-compatible) capability IDs ----
    public const byte PowerManagement = 0x01;
    public const byte Agp = 0x02;
    public const byte VitalProductData = 0x03;
    public const byte SlotIdentification = 0x04;
    public const byte Msi = 0x05;
    public const byte CompactPciHotSwap = 0x06;
    public const byte PciX = 0x07;
    public const byte HyperTransport = 0x08;
    public const byte VendorSpecific = 0x09;
    public const byte DebugPort = 0x0A;
    public const byte CompactPciResourceControl = 0x0B;
    public const byte PciHotPlug = 0x0C;
    public const byte BridgeSubsystemVendorId = 0x0D;
    public const byte Agp8x = 0x0E;
    public const byte SecureDevice = 0x0F;
    public const byte PciExpress = 0x10;
    public const byte MsiX = 0x11;
    public const byte SataConfiguration = 0x12;
    public const byte AdvancedFeatures = 0x13;
    public const byte EnhancedAllocation = 0x14;
    public const byte FlatteningPortalBridge = 0x15;

    // ---- Extended capability IDs (config space 0x100..0xFFF) ----
    /// <summary>An empty extended list reads as a header of all zeros at 0x100.</summary>
    public const ushort NullExtended = 0x0000;
    public const ushort AdvancedErrorReporting = 0x0001;
    public const ushort VirtualChannel = 0x0002;
    public const ushort DeviceSerialNumber = 0x0003;
    public const ushort PowerBudgeting = 0x0004;
    public const ushort RootComplexLinkDeclaration = 0x0005;
    public const ushort RootComplexInternalLinkControl = 0x0006;
    public const ushort RootComplexEventCollectorEndpointAssociation = 0x0007;
    public const ushort MultiFunctionVirtualChannel = 0x0008;
    /// <summary>Virtual Channel, used when an MFVC capability is also present.</summary>
    public const ushort VirtualChannelWithMfvc = 0x0009;
    public const ushort RootComplexRegisterBlock = 0x000A;
    public const ushort VendorSpecificExtended = 0x000B;
    public const ushort ConfigurationAccessCorrelation = 0x000C;
    public const ushort AccessControlServices = 0x000D;
    public const ushort AlternativeRoutingId = 0x000E;
    public const ushort AddressTranslationServices = 0x000F;
    public const ushort SingleRootIov = 0x0010;
    public const ushort MultiRootIov = 0x0011;
    public const ushort Multicast = 0x0012;
    public const ushort PageRequest = 0x0013;
    public const ushort ResizableBar = 0x0015;
    public const ushort DynamicPowerAllocation = 0x0016;
    public const ushort TphRequester = 0x0017;
    public const ushort LatencyToleranceReporting = 0x0018;
    public const ushort SecondaryPciExpress = 0x0019;
    public const ushort ProtocolMultiplexing = 0x001A;
    public const ushort ProcessAddressSpaceId = 0x001B;
    public const ushort LnRequester = 0x001C;
    public const ushort DownstreamPortContainment = 0x001D;
    public const ushort L1PmSubstates = 0x001E;
    public const ushort PrecisionTimeMeasurement = 0x001F;
    public const ushort MPcie = 0x0020;
    public const ushort FrsQueueing = 0x0021;
    public const ushort ReadinessTimeReporting = 0x0022;
    public const ushort DesignatedVendorSpecific = 0x0023;
    public const ushort VfResizableBar = 0x0024;
    public const ushort DataLinkFeature = 0x0025;
    public const ushort PhysicalLayer16GT = 0x0026;
    public const ushort LaneMarginingAtReceiver = 0x0027;
    public const ushort HierarchyId = 0x0028;
    public const ushort NativePcieEnclosureManagement = 0x0029;
    public const ushort PhysicalLayer32GT = 0x002A;
    public const ushort AlternateProtocol = 0x002B;
    public const ushort SystemFirmwareIntermediary = 0x002C;
}
