using System.Buffers.Binary;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// An error AER records. Uncorrectable errors have the value of their bit in the Uncorrectable Error
/// Status register; correctable errors are <c>0x80 | bit</c> of the Correctable Error Status register (§7.8.4.2, §7.8.4.5).
/// </summary>
public enum AerError : byte
{
    DataLinkProtocol = 4,
    SurpriseDown = 5,
    PoisonedTlpReceived = 12,
    FlowControlProtocol = 13,
    CompletionTimeout = 14,
    CompleterAbort = 15,
    UnexpectedCompletion = 16,
    ReceiverOverflow = 17,
    MalformedTlp = 18,
    EcrcError = 19,
    UnsupportedRequest = 20,
    AcsViolation = 21,
    UncorrectableInternal = 22,
    McBlockedTlp = 23,
    AtomicOpEgressBlocked = 24,
    TlpPrefixBlocked = 25,
    PoisonedTlpEgressBlocked = 26,

    ReceiverError = 0x80 | 0,
    BadTlp = 0x80 | 6,
    BadDllp = 0x80 | 7,
    ReplayNumRollover = 0x80 | 8,
    ReplayTimerTimeout = 0x80 | 12,
    AdvisoryNonFatal = 0x80 | 13,
    CorrectedInternal = 0x80 | 14,
    HeaderLogOverflow = 0x80 | 15,
}

/// <summary>Options of an <see cref="AerCapability"/>.</summary>
public sealed record AerOptions
{
    /// <summary>Must match the function's PCI Express capability; a Root Port adds the root error registers.</summary>
    public PciePortType PortType { get; init; } = PciePortType.Endpoint;
    public bool EcrcGenerationCapable { get; init; }
    public bool EcrcCheckCapable { get; init; }
    /// <summary>Root Ports: Advanced Error Interrupt Message Number (Root Error Status 31:27), 0..31.</summary>
    public byte InterruptMessageNumber { get; init; }
}

/// <summary>
/// Advanced Error Reporting extended capability, version 2 (PCIe Base Spec §7.8.4; logging rules §6.2).
/// Status registers are RW1CS, masks and severities RWS with the spec's defaults, the First Error Pointer
/// and Header Log ROS: all survive FLR and hot reset, not a fundamental reset. A Root Port adds Root Error
/// Command, Root Error Status and Error Source Identification, so its capability is 0x38 bytes (0x2C otherwise).
/// </summary>
public sealed class AerCapability : PciExtendedCapability
{
    const int UncStatus = 0x04, UncMask = 0x08, UncSeverity = 0x0C, CorStatus = 0x10, CorMask = 0x14,
        CapControl = 0x18, HeaderLog = 0x1C, RootCommand = 0x2C, RootStatus = 0x30, SourceId = 0x34;

    /// <summary>Uncorrectable error bits this model implements (bits 4, 5, 12..26).</summary>
    public const uint UncorrectableImplemented = 0x07FF_F030;
    /// <summary>Correctable error bits this model implements (0, 6, 7, 8, 12..15).</summary>
    public const uint CorrectableImplemented = 0xF1C1;
    /// <summary>Default Uncorrectable Error Mask: Uncorrectable Internal Error and Poisoned TLP Egress Blocked masked.</summary>
    public const uint DefaultUncorrectableMask = 1u << 22 | 1u << 26;
    /// <summary>Default severity: DLP, Surprise Down, FCP, Receiver Overflow, Malformed TLP and Uncorrectable Internal are fatal.</summary>
    public const uint DefaultSeverity = 1u << 4 | 1u << 5 | 1u << 13 | 1u << 17 | 1u << 18 | 1u << 22;
    /// <summary>Default Correctable Error Mask: Advisory Non-Fatal, Corrected Internal and Header Log Overflow masked.</summary>
    public const uint DefaultCorrectableMask = 1u << 13 | 1u << 14 | 1u << 15;

    // Root Error Status bits (§7.8.4.10)
    const uint ErrCorReceived = 1 << 0, MultipleErrCor = 1 << 1, ErrFatalNonFatalReceived = 1 << 2,
        MultipleErrFatalNonFatal = 1 << 3, FirstUncorrectableFatal = 1 << 4, NonFatalMessagesReceived = 1 << 5,
        FatalMessagesReceived = 1 << 6;

    PciExpressCapability? _pcie;

    public AerCapability(AerOptions? options = null)
    {
        Options = options ?? new AerOptions();
        if (Options.InterruptMessageNumber > 31) throw new ArgumentException("Advanced Error Interrupt Message Number is 5 bits");
    }

    public AerOptions Options { get; }
    public override ushort Id => CapabilityIds.AdvancedErrorReporting;
    public override byte Version => 2;
    public override string Name => "Advanced Error Reporting";
    public bool IsRootPort => Options.PortType == PciePortType.RootPort;
    public override int Length => IsRootPort ? 0x38 : 0x2C;

    PciExpressCapability Pcie => _pcie ?? throw new InvalidOperationException("AER is not installed");

    protected override void Layout(ConfigSpace config, int offset)
    {
        const uint all = 0xFFFF_FFFF;
        Def(UncStatus, 4, 0, w1c: UncorrectableImplemented, sticky: all, kind: RegisterKind.Write1ToClear);
        Def(UncMask, 4, DefaultUncorrectableMask, UncorrectableImplemented, sticky: all, kind: RegisterKind.ReadWrite);
        Def(UncSeverity, 4, DefaultSeverity, UncorrectableImplemented, sticky: all, kind: RegisterKind.ReadWrite);
        Def(CorStatus, 4, 0, w1c: CorrectableImplemented, sticky: all, kind: RegisterKind.Write1ToClear);
        Def(CorMask, 4, DefaultCorrectableMask, CorrectableImplemented, sticky: all, kind: RegisterKind.ReadWrite);
        uint caps = (Options.EcrcGenerationCapable ? 1u << 5 : 0) | (Options.EcrcCheckCapable ? 1u << 7 : 0);
        uint enables = (Options.EcrcGenerationCapable ? 1u << 6 : 0) | (Options.EcrcCheckCapable ? 1u << 8 : 0);
        // First Error Pointer (4:0) is ROS; the ECRC enables are RWS (§7.8.4.7).
        Def(CapControl, 4, caps, enables, sticky: 0x1F | enables, kind: RegisterKind.Mixed);
        for (int i = 0; i < 4; i++) Def(HeaderLog + 4 * i, 4, 0, sticky: all);
        if (IsRootPort)
        {
            Def(RootCommand, 4, 0, 0x7, kind: RegisterKind.ReadWrite);
            Def(RootStatus, 4, (uint)Options.InterruptMessageNumber << 27, w1c: 0x7F, sticky: 0x7F, kind: RegisterKind.Mixed);
            Def(SourceId, 4, 0, sticky: all);
        }
    }

    public override void OnFunctionSealed()
    {
        _pcie = Function.FindCapability<PciExpressCapability>()
            ?? throw new InvalidOperationException($"{Function.Name}: AER needs the PCI Express capability");
        if (_pcie.PortType != Options.PortType)
            throw new InvalidOperationException($"{Function.Name}: AER port type {Options.PortType} does not match the PCI Express capability ({_pcie.PortType})");
    }

    public uint UncorrectableStatus => Reg(UncStatus, 4);
    public uint CorrectableStatus => Reg(CorStatus, 4);
    public int FirstErrorPointer => (int)(Reg(CapControl, 4) & 0x1F);

    /// <summary>The Header Log as the TLP header bytes it holds (byte 0 of the header is the MSB of the first DWORD).</summary>
    public void ReadHeaderLog(Span<byte> destination)
    {
        for (int i = 0; i < 4 && destination.Length >= 4 * i + 4; i++)
            BinaryPrimitives.WriteUInt32BigEndian(destination[(4 * i)..], Reg(HeaderLog + 4 * i, 4));
    }

    /// <summary>
    /// Records an error this function detected (§6.2.5): sets its status bit (even when masked). An unmasked
    /// error also updates Device Status and, for the first uncorrectable error (the one the First Error Pointer
    /// names), the First Error Pointer and Header Log with up to 16 bytes of <paramref name="tlpHeader"/>.
    /// A masked Unsupported Request still sets Unsupported Request Detected. Returns the error Message the
    /// function sends given its reporting enables.
    /// </summary>
    public ErrorMessage RecordError(AerError error, ReadOnlySpan<byte> tlpHeader)
    {
        int bit = (int)error & 0x1F;
        uint b = 1u << bit;
        ErrorMessage message;
        bool masked;
        if (((int)error & 0x80) != 0)
        {
            Config.SetBits(Offset + CorStatus, 4, b, true);
            masked = (Reg(CorMask, 4) & b) != 0;
            message = masked ? ErrorMessage.None : Pcie.ReportError(ErrorSeverity.Correctable);
        }
        else
        {
            uint status = Reg(UncStatus, 4);
            bool firstValid = (status & (1u << FirstErrorPointer)) != 0;
            Config.SetBits(Offset + UncStatus, 4, b, true);
            bool ur = error == AerError.UnsupportedRequest;
            masked = (Reg(UncMask, 4) & b) != 0;
            if (masked)
            {
                if (ur) Pcie.SetUnsupportedRequestDetected();
                message = ErrorMessage.None;
            }
            else
            {
                if (!firstValid) LogFirstError(bit, tlpHeader);
                var severity = (Reg(UncSeverity, 4) & b) != 0 ? ErrorSeverity.Fatal : ErrorSeverity.NonFatal;
                message = Pcie.ReportError(severity, ur);
            }
        }
        Log.ErrorRecorded(Function.Logger, Function.Name, error.ToString(), masked, message.ToString());
        return message;
    }

    void LogFirstError(int bit, ReadOnlySpan<byte> tlpHeader)
    {
        SetReg(CapControl, 4, (Reg(CapControl, 4) & ~0x1Fu) | (uint)bit);
        Span<byte> header = stackalloc byte[16];
        header.Clear();
        tlpHeader[..Math.Min(16, tlpHeader.Length)].CopyTo(header);
        for (int i = 0; i < 4; i++) SetReg(HeaderLog + 4 * i, 4, BinaryPrimitives.ReadUInt32BigEndian(header[(4 * i)..]));
    }

    /// <summary>
    /// A Root Port received an error Message (ERR_COR / ERR_NONFATAL / ERR_FATAL) from <paramref name="source"/>,
    /// possibly itself (§6.2.4.1, §7.8.4.10-11): updates Root Error Status and Error Source Identification and,
    /// when Root Error Command enables that class, requests the Advanced Error interrupt. Returns whether it did.
    /// </summary>
    public bool ReceiveErrorMessage(ErrorMessage message, Bdf source)
    {
        if (!IsRootPort) throw new InvalidOperationException($"{Function.Name}: only a Root Port collects error messages");
        if (message == ErrorMessage.None) return false;
        uint status = Reg(RootStatus, 4), ids = Reg(SourceId, 4);
        int enable;
        if (message == ErrorMessage.Correctable)
        {
            if ((status & ErrCorReceived) != 0) status |= MultipleErrCor;
            else { status |= ErrCorReceived; ids = (ids & 0xFFFF_0000) | source.Value; }
            enable = 0;
        }
        else
        {
            if ((status & ErrFatalNonFatalReceived) != 0) status |= MultipleErrFatalNonFatal;
            else
            {
                status |= ErrFatalNonFatalReceived | (message == ErrorMessage.Fatal ? FirstUncorrectableFatal : 0);
                ids = (ids & 0xFFFF) | (uint)source.Value << 16;
            }
            status |= message == ErrorMessage.Fatal ? FatalMessagesReceived : NonFatalMessagesReceived;
            enable = message == ErrorMessage.Fatal ? 2 : 1;
        }
        SetReg(RootStatus, 4, status);
        SetReg(SourceId, 4, ids);
        if ((Reg(RootCommand, 4) & (1u << enable)) == 0) return false;
        CapabilityInterrupts.Request(Function, Options.InterruptMessageNumber);
        return true;
    }
}

/// <summary>How the fabric reports errors detected at a function (§6.2.5), with or without AER.</summary>
public static class PcieErrorReporting
{
    /// <summary>
    /// Records <paramref name="error"/> at <paramref name="function"/>: through AER when present, else through the
    /// PCI Express capability's baseline Device Status logging with the spec's default severity. Returns the error
    /// Message the function sends (None for a function without a PCI Express capability).
    /// </summary>
    public static ErrorMessage Report(PciFunction function, AerError error, ReadOnlySpan<byte> tlpHeader = default)
    {
        if (function.FindCapability<AerCapability>() is { } aer) return aer.RecordError(error, tlpHeader);
        if (function.FindCapability<PciExpressCapability>() is not { } pcie) return ErrorMessage.None;
        if (((int)error & 0x80) != 0)
            // Without AER the masked-by-default correctable errors are still logged: there is no mask register.
            return pcie.ReportError(ErrorSeverity.Correctable);
        uint b = 1u << ((int)error & 0x1F);
        var severity = (AerCapability.DefaultSeverity & b) != 0 ? ErrorSeverity.Fatal : ErrorSeverity.NonFatal;
        return pcie.ReportError(severity, error == AerError.UnsupportedRequest);
    }

    /// <summary>
    /// The function received a request it does not support (it completes it with UR status): sets Unsupported
    /// Request Detected in Device Status and, with AER, the UR status bit and header log (§6.2.7).
    /// </summary>
    public static ErrorMessage ReportUnsupportedRequest(PciFunction function, ReadOnlySpan<byte> tlpHeader = default) =>
        Report(function, AerError.UnsupportedRequest, tlpHeader);
}
