namespace PcieVirt.Pci.Capabilities;

/// <summary>Device/Port Type field of the PCI Express Capabilities register (§7.5.3.2).</summary>
public enum PciePortType : byte
{
    Endpoint = 0,
    LegacyEndpoint = 1,
    RootPort = 4,
    SwitchUpstreamPort = 5,
    SwitchDownstreamPort = 6,
    PcieToPciBridge = 7,
    PciToPcieBridge = 8,
    RcIntegratedEndpoint = 9,
    RcEventCollector = 10,
}

/// <summary>Link speeds as encoded in Max/Current Link Speed and Target Link Speed (§7.5.3.6, §7.5.3.18).</summary>
public enum PcieLinkSpeed : byte
{
    Gt2_5 = 1,
    Gt5 = 2,
    Gt8 = 3,
    Gt16 = 4,
    Gt32 = 5,
    Gt64 = 6,
}

/// <summary>ASPM Support field of Link Capabilities (§7.5.3.6).</summary>
[Flags]
public enum AspmSupport : byte { None = 0, L0s = 1, L1 = 2, L0sAndL1 = 3 }

/// <summary>Completion Timeout Ranges Supported of Device Capabilities 2 (§7.5.3.15).</summary>
[Flags]
public enum CompletionTimeoutRanges : byte
{
    None = 0,
    /// <summary>50 µs to 10 ms.</summary>
    A = 1,
    /// <summary>10 ms to 250 ms.</summary>
    B = 2,
    /// <summary>250 ms to 4 s.</summary>
    C = 4,
    /// <summary>4 s to 64 s.</summary>
    D = 8,
}

/// <summary>Severity of a detected error (§6.2.2).</summary>
public enum ErrorSeverity : byte { Correctable, NonFatal, Fatal }

/// <summary>The error Message a function sends upstream after detecting an error (§6.2.3.2), if any.</summary>
public enum ErrorMessage : byte
{
    None,
    /// <summary>ERR_COR.</summary>
    Correctable,
    /// <summary>ERR_NONFATAL.</summary>
    NonFatal,
    /// <summary>ERR_FATAL.</summary>
    Fatal,
}
