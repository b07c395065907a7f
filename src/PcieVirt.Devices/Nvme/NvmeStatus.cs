namespace PcieVirt.Devices.Nvme;

/// <summary>Status Code Type (SCT) of a completion (NVMe Base 1.4 §4.6.1.1).</summary>
public enum NvmeStatusCodeType : byte
{
    /// <summary>Generic Command Status (§4.6.1.2.1, NVM-specific values from 80h).</summary>
    Generic = 0,
    /// <summary>Command Specific Status (§4.6.1.2.2).</summary>
    CommandSpecific = 1,
    /// <summary>Media and Data Integrity Errors (§4.6.1.2.3).</summary>
    MediaAndDataIntegrity = 2,
    /// <summary>Path Related Status (§4.6.1.2.4).</summary>
    PathRelated = 3,
    /// <summary>Vendor Specific.</summary>
    VendorSpecific = 7,
}

/// <summary>
/// The Status Field of a completion queue entry without the phase tag (NVMe Base 1.4 §4.6.1): Status
/// Code (bits 7:0), Status Code Type (10:8), Command Retry Delay (12:11), More (13) and Do Not Retry (14).
/// A value type so that command paths return it without allocating.
/// </summary>
public readonly record struct NvmeStatus(NvmeStatusCodeType Type, byte Code, bool DoNotRetry = false)
{
    /// <summary>The 15-bit Status Field as it sits in completion dword 3 bits 31:17.</summary>
    public ushort Field => (ushort)(Code | (int)Type << 8 | (DoNotRetry ? 1 << 14 : 0));

    /// <summary>True for Successful Completion.</summary>
    public bool IsSuccess => Type == NvmeStatusCodeType.Generic && Code == 0;

    /// <summary>Decodes a 15-bit Status Field (CRD and More are not modelled and are dropped).</summary>
    public static NvmeStatus FromField(ushort field) =>
        new((NvmeStatusCodeType)((field >> 8) & 7), (byte)field, (field & (1 << 14)) != 0);

    static NvmeStatus G(byte code) => new(NvmeStatusCodeType.Generic, code, true);
    static NvmeStatus S(byte code) => new(NvmeStatusCodeType.CommandSpecific, code, true);

    // ---- Generic Command Status (§4.6.1.2.1) ----
    public static NvmeStatus Success => default;
    public static NvmeStatus InvalidCommandOpcode => G(0x01);
    public static NvmeStatus InvalidFieldInCommand => G(0x02);
    public static NvmeStatus CommandIdConflict => G(0x03);
    /// <summary>Data Transfer Error: a DMA of data or of a PRP list was not completed (no DNR: a retry may succeed).</summary>
    public static NvmeStatus DataTransferError => new(NvmeStatusCodeType.Generic, 0x04);
    public static NvmeStatus InternalError => new(NvmeStatusCodeType.Generic, 0x06);
    public static NvmeStatus CommandAbortRequested => new(NvmeStatusCodeType.Generic, 0x07);
    public static NvmeStatus CommandAbortedSqDeletion => new(NvmeStatusCodeType.Generic, 0x08);
    public static NvmeStatus InvalidNamespaceOrFormat => G(0x0B);
    public static NvmeStatus CommandSequenceError => G(0x0C);
    public static NvmeStatus InvalidSglSegmentDescriptor => G(0x0D);
    public static NvmeStatus PrpOffsetInvalid => G(0x13);
    /// <summary>Namespace is Write Protected: a write to a read-only namespace (e.g. a read-only snapshot).</summary>
    public static NvmeStatus NamespaceWriteProtected => G(0x20);
    // NVM command set specific generic values.
    public static NvmeStatus LbaOutOfRange => G(0x80);
    public static NvmeStatus CapacityExceeded => G(0x81);
    /// <summary>Namespace Not Ready (no DNR: the namespace may become ready).</summary>
    public static NvmeStatus NamespaceNotReady => new(NvmeStatusCodeType.Generic, 0x82);

    // ---- Command Specific Status (§4.6.1.2.2) ----
    public static NvmeStatus CompletionQueueInvalid => S(0x00);
    public static NvmeStatus InvalidQueueIdentifier => S(0x01);
    public static NvmeStatus InvalidQueueSize => S(0x02);
    public static NvmeStatus AbortCommandLimitExceeded => S(0x03);
    public static NvmeStatus AsynchronousEventRequestLimitExceeded => S(0x05);
    public static NvmeStatus InvalidInterruptVector => S(0x08);
    public static NvmeStatus InvalidLogPage => S(0x09);
    public static NvmeStatus InvalidQueueDeletion => S(0x0C);
    public static NvmeStatus FeatureIdentifierNotSaveable => S(0x0D);
    public static NvmeStatus FeatureNotChangeable => S(0x0E);
    public static NvmeStatus NamespaceAlreadyAttached => S(0x18);
    public static NvmeStatus NamespaceIsPrivate => S(0x19);
    public static NvmeStatus NamespaceNotAttached => S(0x1A);
    public static NvmeStatus ControllerListInvalid => S(0x1C);
    public static NvmeStatus InvalidControllerIdentifier => S(0x1F);
    public static NvmeStatus InvalidSecondaryControllerState => S(0x20);
    public static NvmeStatus InvalidNumberOfControllerResources => S(0x21);
    public static NvmeStatus InvalidResourceIdentifier => S(0x22);

    // ---- Media and Data Integrity Errors (§4.6.1.2.3) ----
    public static NvmeStatus WriteFault => new(NvmeStatusCodeType.MediaAndDataIntegrity, 0x80);
    public static NvmeStatus UnrecoveredReadError => new(NvmeStatusCodeType.MediaAndDataIntegrity, 0x81);

    public override string ToString() => IsSuccess ? "Success" : $"SCT {(int)Type:x}h SC {Code:x2}h{(DoNotRetry ? " DNR" : "")}";
}
