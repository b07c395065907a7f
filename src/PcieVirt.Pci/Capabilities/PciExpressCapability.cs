using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Options of a <see cref="PciExpressCapability"/>. Nullable options default by port type.</summary>
public sealed record PciExpressOptions
{
    public PciePortType PortType { get; init; } = PciePortType.Endpoint;
    /// <summary>MSI/MSI-X vector used for this capability's interrupts (hot-plug, PME), 0..31.</summary>
    public byte InterruptMessageNumber { get; init; }

    // Device Capabilities
    /// <summary>Max_Payload_Size Supported in bytes: 128, 256, 512, 1024, 2048 or 4096.</summary>
    public int MaxPayloadSizeSupported { get; init; } = 256;
    public bool ExtendedTagSupported { get; init; } = true;
    /// <summary>Endpoint L0s Acceptable Latency encoding (0 = &lt;64 ns … 7 = no limit); endpoints only.</summary>
    public byte L0sAcceptableLatency { get; init; }
    /// <summary>Endpoint L1 Acceptable Latency encoding (0 = &lt;1 µs … 7 = no limit); endpoints only.</summary>
    public byte L1AcceptableLatency { get; init; }
    /// <summary>Function Level Reset Capability; endpoints only.</summary>
    public bool FlrCapable { get; init; }
    /// <summary>AUX Power Detected (Device Status bit 4).</summary>
    public bool AuxPowerDetected { get; init; }

    // Link
    public PcieLinkSpeed MaxLinkSpeed { get; init; } = PcieLinkSpeed.Gt8;
    /// <summary>Maximum Link Width: 1, 2, 4, 8, 12, 16 or 32.</summary>
    public int MaxLinkWidth { get; init; } = 4;
    /// <summary>Current Link Speed (default: the maximum).</summary>
    public PcieLinkSpeed? LinkSpeed { get; init; }
    /// <summary>Negotiated Link Width (default: the maximum).</summary>
    public int? LinkWidth { get; init; } // 0 = link down (empty slot): Negotiated Link Width reads 0
    public AspmSupport AspmSupport { get; init; } = AspmSupport.L1;
    /// <summary>L0s Exit Latency encoding (0 = &lt;64 ns … 7 = &gt;4 µs).</summary>
    public byte L0sExitLatency { get; init; }
    /// <summary>L1 Exit Latency encoding (0 = &lt;1 µs … 7 = &gt;64 µs).</summary>
    public byte L1ExitLatency { get; init; }
    public byte PortNumber { get; init; }
    public bool SurpriseDownErrorReporting { get; init; }
    /// <summary>Data Link Layer Link Active Reporting Capable (default: true on downstream-facing ports).</summary>
    public bool? DataLinkLayerActiveReporting { get; init; }
    /// <summary>Link Bandwidth Notification Capability (default: true on downstream-facing ports).</summary>
    public bool? LinkBandwidthNotification { get; init; }
    /// <summary>Slot Clock Configuration: the link uses the reference clock of the platform.</summary>
    public bool SlotClockConfiguration { get; init; } = true;

    // Slot (root ports and switch downstream ports)
    public bool SlotImplemented { get; init; }
    /// <summary>Physical Slot Number, 0..8191.</summary>
    public int PhysicalSlotNumber { get; init; }
    public bool HotPlugCapable { get; init; }
    public bool HotPlugSurprise { get; init; }
    public bool AttentionButtonPresent { get; init; }
    public bool PowerControllerPresent { get; init; }
    public bool MrlSensorPresent { get; init; }
    public bool AttentionIndicatorPresent { get; init; }
    public bool PowerIndicatorPresent { get; init; }
    public bool NoCommandCompletedSupport { get; init; }
    public byte SlotPowerLimitValue { get; init; }
    /// <summary>Slot Power Limit Scale encoding (0 = 1.0x … 3 = 0.001x).</summary>
    public byte SlotPowerLimitScale { get; init; }
    /// <summary>Initial Presence Detect State of the slot.</summary>
    public bool CardPresent { get; init; } = true;

    // Root ports
    public bool CrsSoftwareVisibility { get; init; }

    // Device Capabilities 2
    /// <summary>Completion Timeout Ranges Supported (default ABCD on functions that issue requests, none on switch ports).</summary>
    public CompletionTimeoutRanges? CompletionTimeoutRanges { get; init; }
    /// <summary>Completion Timeout Disable Supported (default as for the ranges).</summary>
    public bool? CompletionTimeoutDisableSupported { get; init; }
    /// <summary>ARI Forwarding Supported; downstream-facing ports only.</summary>
    public bool AriForwardingSupported { get; init; }
    public bool TenBitTagCompleterSupported { get; init; }
    public bool TenBitTagRequesterSupported { get; init; }
}

/// <summary>
/// PCI Express Capability, version 2 (PCIe Base Spec §7.5.3): device, link, slot and root registers and
/// their "2" counterparts. Which bits are writable depends on the Device/Port Type and the options, as
/// the spec assigns them; registers that do not apply read 0. Write side effects: Initiate Function Level
/// Reset, Retrain Link, Link Disable, Slot Control command completion.
/// <para>Modelling choices: a write of a Max_Payload_Size larger than supported, a reserved
/// Max_Read_Request_Size, an unsupported Target Link Speed or Completion Timeout Value is discarded and the
/// field keeps its previous value (logged). Link training is instantaneous.</para>
/// </summary>
public sealed class PciExpressCapability : PciStandardCapability
{
    const int Caps = 0x02, DevCap = 0x04, DevCtl = 0x08, DevSta = 0x0A, LinkCap = 0x0C, LinkCtl = 0x10,
        LinkSta = 0x12, SlotCap = 0x14, SlotCtl = 0x18, SlotSta = 0x1A, RootCtl = 0x1C, RootCap = 0x1E,
        RootSta = 0x20, DevCap2 = 0x24, DevCtl2 = 0x28, DevSta2 = 0x2A, LinkCap2 = 0x2C, LinkCtl2 = 0x30,
        LinkSta2 = 0x32, SlotCap2 = 0x34, SlotCtl2 = 0x38, SlotSta2 = 0x3A;

    // Device Control / Status bits (§7.5.3.4-5)
    const uint CorrectableReportingEnable = 1 << 0, NonFatalReportingEnable = 1 << 1, FatalReportingEnable = 1 << 2,
        UrReportingEnable = 1 << 3, RelaxedOrderingEnable = 1 << 4, MpsMask = 7 << 5, ExtTagEnable = 1 << 8,
        AuxPowerPmEnable = 1 << 10, NoSnoopEnable = 1 << 11, MrrsMask = 7 << 12, InitiateFlr = 1 << 15;
    const uint CorrectableDetected = 1 << 0, NonFatalDetected = 1 << 1, FatalDetected = 1 << 2, UrDetected = 1 << 3,
        AuxPowerDetectedBit = 1 << 4, TransactionsPendingBit = 1 << 5;
    // Link Control / Status bits (§7.5.3.7-8)
    const uint LinkDisableBit = 1 << 4, RetrainLinkBit = 1 << 5, DllLinkActiveBit = 1 << 13,
        LinkBandwidthManagementStatus = 1 << 14, LinkAutonomousBandwidthStatus = 1 << 15;
    // Slot Control / Status bits (§7.5.3.10-11)
    const uint CommandCompletedEnable = 1 << 4, HotPlugInterruptEnable = 1 << 5, PresenceDetectChangedEnable = 1 << 3,
        DllStateChangedEnable = 1 << 12;
    const uint PresenceDetectChanged = 1 << 3, CommandCompleted = 1 << 4, PresenceDetectState = 1 << 6,
        DllStateChanged = 1 << 8;
    // Root Status (§7.5.3.14)
    const uint RootPmeStatus = 1 << 16, RootPmePending = 1 << 17, PmeInterruptEnable = 1 << 3;

    static readonly int[] ValidWidths = [1, 2, 4, 8, 12, 16, 32];
    // Completion Timeout Value encodings and the range (A=1, B=2, C=4, D=8) each belongs to (§7.5.3.16).
    static readonly byte[] TimeoutValueRange = [0, 1, 1, 0, 0, 2, 2, 0, 0, 4, 4, 0, 0, 8, 8, 0];

    // Fields a Function Level Reset leaves as they are (§6.6.2): Max_Payload_Size in Device Control,
    // and in Link Control ASPM Control, RCB, Common Clock Configuration, Extended Synch, Enable Clock
    // Power Management and Hardware Autonomous Width Disable. They describe the link and the
    // hierarchy, which an FLR of one function does not change. Hot and fundamental resets do clear them.
    const uint FlrKeptDevCtl = MpsMask;
    const uint FlrKeptLinkCtl = 0x3 | 1 << 3 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 9;

    readonly Queue<ushort> _pmeRequests = new();
    bool _linkUp = true;
    uint _flrKeptDevCtl, _flrKeptLinkCtl; // their values as last written, restored after an FLR

    public PciExpressCapability(PciExpressOptions? options = null)
    {
        Options = options ?? new PciExpressOptions();
        Validate(Options);
    }

    public PciExpressOptions Options { get; }
    public override ushort Id => CapabilityIds.PciExpress;
    public override byte Version => 2;
    public override string Name => "PCI Express";
    public override int Length => 0x3C;

    public PciePortType PortType => Options.PortType;
    /// <summary>Root Ports and Switch Downstream Ports: the link below them is theirs to control.</summary>
    public bool IsDownstreamFacing => PortType is PciePortType.RootPort or PciePortType.SwitchDownstreamPort;
    public bool IsEndpoint => PortType is PciePortType.Endpoint or PciePortType.LegacyEndpoint or PciePortType.RcIntegratedEndpoint;
    bool HasLink => PortType is not (PciePortType.RcIntegratedEndpoint or PciePortType.RcEventCollector);
    bool IssuesRequests => PortType is not (PciePortType.SwitchUpstreamPort or PciePortType.SwitchDownstreamPort);
    public bool FlrCapable => Options.FlrCapable;
    public bool SlotImplemented => Options.SlotImplemented;
    bool DllReporting => Options.DataLinkLayerActiveReporting ?? IsDownstreamFacing;
    bool BandwidthNotification => Options.LinkBandwidthNotification ?? IsDownstreamFacing;
    CompletionTimeoutRanges TimeoutRanges =>
        Options.CompletionTimeoutRanges ?? (IssuesRequests ? CompletionTimeoutRanges.A | CompletionTimeoutRanges.B | CompletionTimeoutRanges.C | CompletionTimeoutRanges.D : CompletionTimeoutRanges.None);
    bool TimeoutDisable => Options.CompletionTimeoutDisableSupported ?? IssuesRequests;

    /// <summary>Raised when an enabled hot-plug or PME event asks for an interrupt, after any MSI/MSI-X message was triggered.</summary>
    public event Action<PciExpressCapability>? InterruptRequested;

    static void Validate(PciExpressOptions o)
    {
        var t = o.PortType;
        if (t is not (PciePortType.Endpoint or PciePortType.LegacyEndpoint or PciePortType.RcIntegratedEndpoint
            or PciePortType.RootPort or PciePortType.SwitchUpstreamPort or PciePortType.SwitchDownstreamPort))
            throw new ArgumentException($"Device/Port Type {t} is not modelled");
        bool endpoint = t is PciePortType.Endpoint or PciePortType.LegacyEndpoint or PciePortType.RcIntegratedEndpoint;
        bool downstream = t is PciePortType.RootPort or PciePortType.SwitchDownstreamPort;
        if (o.InterruptMessageNumber > 31) throw new ArgumentException("Interrupt Message Number is 5 bits (0..31)");
        if (o.MaxPayloadSizeSupported is not (128 or 256 or 512 or 1024 or 2048 or 4096))
            throw new ArgumentException($"Max_Payload_Size Supported {o.MaxPayloadSizeSupported} is not 128..4096 bytes, a power of two");
        if (o.L0sAcceptableLatency > 7 || o.L1AcceptableLatency > 7 || o.L0sExitLatency > 7 || o.L1ExitLatency > 7)
            throw new ArgumentException("latency encodings are 3 bits (0..7)");
        if (!endpoint && (o.L0sAcceptableLatency != 0 || o.L1AcceptableLatency != 0))
            throw new ArgumentException("L0s/L1 Acceptable Latency apply to endpoints only (§7.5.3.3)");
        if (o.FlrCapable && !endpoint) throw new ArgumentException("Function Level Reset Capability applies to endpoints only (§7.5.3.3)");
        if (!Enum.IsDefined(o.MaxLinkSpeed)) throw new ArgumentException($"Max Link Speed {o.MaxLinkSpeed} is not defined");
        if (Array.IndexOf(ValidWidths, o.MaxLinkWidth) < 0) throw new ArgumentException($"Max Link Width x{o.MaxLinkWidth} is not a PCIe width");
        if (o.LinkSpeed is { } s && (!Enum.IsDefined(s) || s > o.MaxLinkSpeed)) throw new ArgumentException($"Link speed {s} exceeds Max Link Speed {o.MaxLinkSpeed}");
        if (o.LinkWidth is { } w && w != 0 && (Array.IndexOf(ValidWidths, w) < 0 || w > o.MaxLinkWidth)) throw new ArgumentException($"Link width x{w} is not a width up to x{o.MaxLinkWidth}");
        if (o.SlotImplemented && !downstream) throw new ArgumentException("only Root Ports and Switch Downstream Ports implement a slot (§7.5.3.2)");
        if (!o.SlotImplemented && (o.HotPlugCapable || o.PhysicalSlotNumber != 0)) throw new ArgumentException("slot options need SlotImplemented");
        if (o.PhysicalSlotNumber is < 0 or > 8191) throw new ArgumentException("Physical Slot Number is 13 bits");
        if (o.SlotPowerLimitScale > 3) throw new ArgumentException("Slot Power Limit Scale is 2 bits");
        if (o.CrsSoftwareVisibility && t != PciePortType.RootPort) throw new ArgumentException("CRS Software Visibility applies to Root Ports only");
        if (o.AriForwardingSupported && !downstream) throw new ArgumentException("ARI Forwarding Supported applies to downstream-facing ports only (§7.5.3.15)");
        if (o.CompletionTimeoutRanges is { } r && r != CompletionTimeoutRanges.None && t is PciePortType.SwitchUpstreamPort or PciePortType.SwitchDownstreamPort)
            throw new ArgumentException("switch ports do not issue requests: Completion Timeout Ranges must be none (§7.5.3.15)");
    }

    protected override void Layout(ConfigSpace config, int offset)
    {
        var o = Options;
        bool link = HasLink, down = IsDownstreamFacing;
        _linkUp = !o.SlotImplemented || o.CardPresent; // an empty slot has no link

        Def(Caps, 2, 2u | (uint)o.PortType << 4 | (o.SlotImplemented ? 1u << 8 : 0) | (uint)o.InterruptMessageNumber << 9);

        // Device Capabilities (§7.5.3.3): Role-Based Error Reporting is mandatory since 1.1.
        int mpsSupported = MpsEncoding(o.MaxPayloadSizeSupported);
        uint devCap = (uint)mpsSupported | (o.ExtendedTagSupported ? 1u << 5 : 0) | 1u << 15;
        if (PortType is PciePortType.Endpoint or PciePortType.LegacyEndpoint)
            devCap |= (uint)o.L0sAcceptableLatency << 6 | (uint)o.L1AcceptableLatency << 9;
        if (o.FlrCapable) devCap |= 1u << 28;
        Def(DevCap, 4, devCap);

        // Device Control (§7.5.3.4). Reset: Relaxed Ordering and No Snoop enabled, MRRS 512 bytes, MPS 128 bytes.
        uint devCtlRw = CorrectableReportingEnable | NonFatalReportingEnable | FatalReportingEnable | UrReportingEnable
            | RelaxedOrderingEnable | MpsMask | (o.ExtendedTagSupported ? ExtTagEnable : 0) | AuxPowerPmEnable
            | NoSnoopEnable | MrrsMask;
        Def(DevCtl, 2, RelaxedOrderingEnable | NoSnoopEnable | 2u << 12, devCtlRw, sticky: AuxPowerPmEnable, kind: RegisterKind.ReadWrite);
        Def(DevSta, 2, o.AuxPowerDetected ? AuxPowerDetectedBit : 0,
            w1c: CorrectableDetected | NonFatalDetected | FatalDetected | UrDetected, kind: RegisterKind.Mixed);

        if (link)
        {
            uint linkCap = (uint)o.MaxLinkSpeed | (uint)o.MaxLinkWidth << 4 | (uint)o.AspmSupport << 10
                | (uint)o.L0sExitLatency << 12 | (uint)o.L1ExitLatency << 15
                | (o.SurpriseDownErrorReporting ? 1u << 19 : 0) | (DllReporting ? 1u << 20 : 0)
                | (BandwidthNotification ? 1u << 21 : 0) | 1u << 22 /* ASPM Optionality Compliance */ | (uint)o.PortNumber << 24;
            Def(LinkCap, 4, linkCap);

            uint linkCtlRw = (uint)o.AspmSupport /* ASPM Control: supported states only */ | 1u << 6 /* Common Clock */
                | 1u << 7 /* Extended Synch */ | 1u << 9 /* HW Autonomous Width Disable */;
            if (PortType is PciePortType.Endpoint or PciePortType.LegacyEndpoint) linkCtlRw |= 1u << 3; // RCB
            if (down) linkCtlRw |= LinkDisableBit;
            if (BandwidthNotification) linkCtlRw |= 3u << 10; // bandwidth interrupt enables
            Def(LinkCtl, 2, 0, linkCtlRw, kind: RegisterKind.ReadWrite);

            uint linkSta = (uint)(o.LinkSpeed ?? o.MaxLinkSpeed) | (uint)(o.LinkWidth ?? o.MaxLinkWidth) << 4
                | (o.SlotClockConfiguration ? 1u << 12 : 0) | (DllReporting && _linkUp ? DllLinkActiveBit : 0);
            Def(LinkSta, 2, linkSta, w1c: BandwidthNotification ? LinkBandwidthManagementStatus | LinkAutonomousBandwidthStatus : 0, kind: RegisterKind.Mixed);
        }
        else
        {
            Def(LinkCap, 4, 0); Def(LinkCtl, 2, 0); Def(LinkSta, 2, 0);
        }

        LayoutSlot(o, down);

        if (PortType == PciePortType.RootPort)
        {
            Def(RootCtl, 2, 0, 0xFu | (o.CrsSoftwareVisibility ? 1u << 4 : 0), kind: RegisterKind.ReadWrite);
            Def(RootCap, 2, o.CrsSoftwareVisibility ? 1u : 0);
            Def(RootSta, 4, 0, w1c: RootPmeStatus, kind: RegisterKind.Mixed);
        }
        else
        {
            Def(RootCtl, 2, 0); Def(RootCap, 2, 0); Def(RootSta, 4, 0);
        }

        // Device Capabilities 2 / Device Control 2 (§7.5.3.15-16)
        var ranges = TimeoutRanges;
        uint devCap2 = (uint)ranges | (TimeoutDisable ? 1u << 4 : 0) | (o.AriForwardingSupported ? 1u << 5 : 0)
            | (o.TenBitTagCompleterSupported ? 1u << 16 : 0) | (o.TenBitTagRequesterSupported ? 1u << 17 : 0);
        Def(DevCap2, 4, devCap2);
        uint devCtl2Rw = (ranges != 0 ? 0xFu : 0) | (TimeoutDisable ? 1u << 4 : 0) | (o.AriForwardingSupported ? 1u << 5 : 0)
            | (o.TenBitTagRequesterSupported ? 1u << 12 : 0);
        Def(DevCtl2, 2, 0, devCtl2Rw, kind: RegisterKind.ReadWrite);
        Def(DevSta2, 2, 0);

        if (link)
        {
            // Supported Link Speeds Vector: bit n set for speed encoding n, every speed up to the maximum (§7.5.3.18).
            Def(LinkCap2, 4, ((1u << (int)o.MaxLinkSpeed) - 1) << 1);
            // Link Control 2 (§7.5.3.19): Target Link Speed and the compliance fields are RWS; Selectable De-emphasis (bit 6) HwInit.
            const uint lc2 = 0xFFBF;
            Def(LinkCtl2, 2, (uint)o.MaxLinkSpeed, lc2, sticky: lc2, kind: RegisterKind.ReadWrite);
            Def(LinkSta2, 2, LinkStatus2For(o.LinkSpeed ?? o.MaxLinkSpeed));
        }
        else
        {
            Def(LinkCap2, 4, 0); Def(LinkCtl2, 2, 0); Def(LinkSta2, 2, 0);
        }
        Def(SlotCap2, 4, 0); Def(SlotCtl2, 2, 0); Def(SlotSta2, 2, 0);
    }

    void LayoutSlot(PciExpressOptions o, bool downstreamFacing)
    {
        if (!o.SlotImplemented)
        {
            Def(SlotCap, 4, 0); Def(SlotCtl, 2, 0);
            // A downstream port without a slot reports Presence Detect State hardwired to 1 (§7.5.3.11).
            Def(SlotSta, 2, downstreamFacing ? PresenceDetectState : 0);
            return;
        }
        uint slotCap = (o.AttentionButtonPresent ? 1u : 0) | (o.PowerControllerPresent ? 1u << 1 : 0)
            | (o.MrlSensorPresent ? 1u << 2 : 0) | (o.AttentionIndicatorPresent ? 1u << 3 : 0)
            | (o.PowerIndicatorPresent ? 1u << 4 : 0) | (o.HotPlugSurprise ? 1u << 5 : 0) | (o.HotPlugCapable ? 1u << 6 : 0)
            | (uint)o.SlotPowerLimitValue << 7 | (uint)o.SlotPowerLimitScale << 15
            | (o.NoCommandCompletedSupport ? 1u << 18 : 0) | (uint)o.PhysicalSlotNumber << 19;
        Def(SlotCap, 4, slotCap);

        // Slot Control (§7.5.3.10): an enable or control is writable only when its feature is present.
        uint rw = (o.AttentionButtonPresent ? 1u : 0) | (o.PowerControllerPresent ? 1u << 1 | 1u << 10 : 0)
            | (o.MrlSensorPresent ? 1u << 2 : 0)
            | (o.HotPlugCapable ? PresenceDetectChangedEnable | HotPlugInterruptEnable : 0)
            | (o.HotPlugCapable && !o.NoCommandCompletedSupport ? CommandCompletedEnable : 0)
            | (o.AttentionIndicatorPresent ? 3u << 6 : 0) | (o.PowerIndicatorPresent ? 3u << 8 : 0)
            | (DllReporting ? DllStateChangedEnable : 0);
        // Indicators: attention Off (11b); power On (01b) with a card present, else Off.
        uint reset = (o.AttentionIndicatorPresent ? 3u << 6 : 0) | (o.PowerIndicatorPresent ? (o.CardPresent ? 1u : 3u) << 8 : 0);
        Def(SlotCtl, 2, reset, rw, kind: RegisterKind.ReadWrite);
        Def(SlotSta, 2, o.CardPresent ? PresenceDetectState : 0, w1c: 0x11Fu, kind: RegisterKind.Mixed);
    }

    static int MpsEncoding(int bytes) => System.Numerics.BitOperations.Log2((uint)bytes) - 7;

    static uint LinkStatus2For(PcieLinkSpeed speed) =>
        // At 8 GT/s and above the link has equalized: Equalization Complete and Phases 1-3 Successful (§7.5.3.20).
        speed >= PcieLinkSpeed.Gt8 ? 0x1Eu : 0;

    public override void OnFunctionSealed()
    {
        bool type1 = PortType is PciePortType.RootPort or PciePortType.SwitchUpstreamPort or PciePortType.SwitchDownstreamPort;
        if (Function.IsBridge != type1)
            throw new InvalidOperationException($"{Function.Name}: Device/Port Type {PortType} needs a Type {(type1 ? 1 : 0)} header");
        if (Function is BridgeFunction b)
        {
            var expected = b.PortKind switch
            {
                BridgePortKind.RootPort => PciePortType.RootPort,
                BridgePortKind.SwitchUpstreamPort => PciePortType.SwitchUpstreamPort,
                BridgePortKind.SwitchDownstreamPort => PciePortType.SwitchDownstreamPort,
                _ => PciePortType.PcieToPciBridge,
            };
            if (expected != PortType)
                throw new InvalidOperationException($"{Function.Name}: bridge kind {b.PortKind} does not match Device/Port Type {PortType}");
        }
        RememberFlrKeptFields();
    }

    // ---- State a fabric or device model reads ----

    public bool AriForwardingEnabled => (Reg(DevCtl2, 2) & (1u << 5)) != 0;
    public bool TenBitTagRequesterEnabled => (Reg(DevCtl2, 2) & (1u << 12)) != 0;
    public bool ExtendedTagEnabled => (Reg(DevCtl, 2) & ExtTagEnable) != 0;
    /// <summary>Programmed Max_Payload_Size in bytes.</summary>
    public int MaxPayloadSize => 128 << (int)((Reg(DevCtl, 2) & MpsMask) >> 5);
    /// <summary>Programmed Max_Read_Request_Size in bytes.</summary>
    public int MaxReadRequestSize => 128 << (int)((Reg(DevCtl, 2) & MrrsMask) >> 12);
    public bool RelaxedOrderingEnabled => (Reg(DevCtl, 2) & RelaxedOrderingEnable) != 0;
    public bool NoSnoopEnabled => (Reg(DevCtl, 2) & NoSnoopEnable) != 0;
    public PcieLinkSpeed LinkSpeed => (PcieLinkSpeed)(Reg(LinkSta, 2) & 0xF);
    public int LinkWidth => (int)((Reg(LinkSta, 2) >> 4) & 0x3F);
    public PcieLinkSpeed TargetLinkSpeed => (PcieLinkSpeed)(Reg(LinkCtl2, 2) & 0xF);
    public bool LinkDisabled => (Reg(LinkCtl, 2) & LinkDisableBit) != 0;
    public bool DataLinkLayerActive => (Reg(LinkSta, 2) & DllLinkActiveBit) != 0;
    public bool PresenceDetected => (Reg(SlotSta, 2) & PresenceDetectState) != 0;

    // ---- Device-side updates ----

    /// <summary>Sets a hardware-reflected register bit and makes it the reset value too (resets do not change hardware state).</summary>
    void SetHardwareBit(int rel, int width, uint bit, bool on)
    {
        Config.SetBits(Offset + rel, width, bit, on);
        uint def = Config.ResetValue(Offset + rel, width);
        Config.SetResetValue(Offset + rel, width, on ? def | bit : def & ~bit);
    }

    /// <summary>Transactions Pending (Device Status bit 5): the function has outstanding non-posted requests.</summary>
    public void SetTransactionsPending(bool pending) => Config.SetBits(Offset + DevSta, 2, TransactionsPendingBit, pending);

    /// <summary>
    /// A card was inserted or removed in this port's slot: updates Presence Detect State, sets Presence Detect
    /// Changed and requests a hot-plug interrupt when enabled (§6.7.3).
    /// </summary>
    public void SetPresence(bool present)
    {
        if (!SlotImplemented) throw new InvalidOperationException($"{Function.Name}: no slot implemented");
        if (PresenceDetected == present) return;
        SetHardwareBit(SlotSta, 2, PresenceDetectState, present);
        HotPlugEvent(PresenceDetectChanged, PresenceDetectChangedEnable);
    }

    /// <summary>
    /// The link below/above this port reached (or left) DL_Active. Updates Data Link Layer Link Active when
    /// the port reports it and, with a slot, sets Data Link Layer State Changed (§7.5.3.8, §7.5.3.11).
    /// </summary>
    public void SetDataLinkLayerActive(bool active)
    {
        _linkUp = active;
        ApplyLinkState();
    }

    void ApplyLinkState()
    {
        if (!HasLink || !DllReporting) return;
        bool active = _linkUp && !LinkDisabled;
        if (DataLinkLayerActive == active) return;
        SetHardwareBit(LinkSta, 2, DllLinkActiveBit, active);
        if (SlotImplemented) HotPlugEvent(DllStateChanged, DllStateChangedEnable);
    }

    /// <summary>Sets Current Link Speed and Negotiated Link Width after (re)training.</summary>
    public void SetLink(PcieLinkSpeed speed, int width)
    {
        if (!HasLink) throw new InvalidOperationException($"{Function.Name}: {PortType} has no link");
        if (speed > Options.MaxLinkSpeed || width > Options.MaxLinkWidth || Array.IndexOf(ValidWidths, width) < 0)
            throw new ArgumentException($"x{width} at {speed} exceeds the link capabilities");
        uint v = (Reg(LinkSta, 2) & ~0x3FFu) | (uint)speed | (uint)width << 4;
        SetReg(LinkSta, 2, v);
        Config.SetResetValue(Offset + LinkSta, 2, (Config.ResetValue(Offset + LinkSta, 2) & ~0x3FFu) | (uint)speed | (uint)width << 4);
        SetReg(LinkSta2, 2, LinkStatus2For(speed));
        Config.SetResetValue(Offset + LinkSta2, 2, LinkStatus2For(speed));
    }

    void HotPlugEvent(uint statusBit, uint enableBit)
    {
        Config.SetBits(Offset + SlotSta, 2, statusBit, true);
        uint ctl = Reg(SlotCtl, 2);
        if (Options.HotPlugCapable && (ctl & enableBit) != 0 && (ctl & HotPlugInterruptEnable) != 0) RequestInterrupt();
    }

    /// <summary>
    /// Sends this capability's interrupt (hot-plug, PME) on vector Interrupt Message Number through the
    /// function's MSI-X or MSI capability when enabled (§6.7.3.4, §6.1.4), and raises <see cref="InterruptRequested"/>.
    /// </summary>
    void RequestInterrupt()
    {
        CapabilityInterrupts.Request(Function, Options.InterruptMessageNumber);
        InterruptRequested?.Invoke(this);
    }

    /// <summary>
    /// A Root Port received a PM_PME Message from <paramref name="requester"/> (§6.1.6). The first one is latched
    /// in Root Status (PME Status, PME Requester ID); later ones wait with PME Pending until software clears PME Status.
    /// </summary>
    public void ReceivePme(Bdf requester)
    {
        if (PortType != PciePortType.RootPort) throw new InvalidOperationException($"{Function.Name}: only a Root Port receives PME messages");
        if ((Reg(RootSta, 4) & RootPmeStatus) == 0) LatchPme(requester.Value);
        else
        {
            _pmeRequests.Enqueue(requester.Value);
            Config.SetBits(Offset + RootSta, 4, RootPmePending, true);
        }
    }

    void LatchPme(ushort requester)
    {
        SetReg(RootSta, 4, RootPmeStatus | (_pmeRequests.Count > 0 ? RootPmePending : 0) | requester);
        if ((Reg(RootCtl, 2) & PmeInterruptEnable) != 0) RequestInterrupt();
    }

    /// <summary>
    /// Baseline error logging (§6.2.5): sets the Device Status error bits for a detected error and returns the
    /// error Message the function sends, given the Device Control reporting enables and SERR# Enable. An
    /// Unsupported Request also sets Unsupported Request Detected and is reported only with UR Reporting Enable.
    /// </summary>
    public ErrorMessage ReportError(ErrorSeverity severity, bool unsupportedRequest = false)
    {
        uint detected = severity switch
        {
            ErrorSeverity.Correctable => CorrectableDetected,
            ErrorSeverity.NonFatal => NonFatalDetected,
            _ => FatalDetected,
        };
        if (unsupportedRequest) detected |= UrDetected;
        Config.SetBits(Offset + DevSta, 2, detected, true);
        return MessageFor(severity, unsupportedRequest);
    }

    /// <summary>Sets only Unsupported Request Detected (an AER-masked UR still records it, §7.5.3.5).</summary>
    internal void SetUnsupportedRequestDetected() => Config.SetBits(Offset + DevSta, 2, UrDetected, true);

    internal ErrorMessage MessageFor(ErrorSeverity severity, bool unsupportedRequest)
    {
        uint ctl = Reg(DevCtl, 2);
        bool serr = (Function.Command & PciCommand.SerrEnable) != 0;
        if (unsupportedRequest && (ctl & UrReportingEnable) == 0) return ErrorMessage.None;
        return severity switch
        {
            ErrorSeverity.Correctable => (ctl & CorrectableReportingEnable) != 0 ? ErrorMessage.Correctable : ErrorMessage.None,
            ErrorSeverity.NonFatal => (ctl & NonFatalReportingEnable) != 0 || serr ? ErrorMessage.NonFatal : ErrorMessage.None,
            _ => (ctl & FatalReportingEnable) != 0 || serr ? ErrorMessage.Fatal : ErrorMessage.None,
        };
    }

    // ---- Requester writes ----

    protected override void OnWrite(int rel, int width, uint oldValue, uint written)
    {
        if (RegisterBits.Touches(rel, width, DevCtl, 2)) DeviceControlWritten(rel, width, oldValue, written);
        if (HasLink && RegisterBits.Touches(rel, width, LinkCtl, 2)) LinkControlWritten(rel, width, oldValue, written);
        if (RegisterBits.Touches(rel, width, DevCtl, 2) || RegisterBits.Touches(rel, width, LinkCtl, 2)) RememberFlrKeptFields();
        if (HasLink && Wrote(rel, width, LinkCtl2, 0xF))
        {
            uint tls = Field(LinkCtl2, 0xF, 0);
            if (tls < 1 || tls > (uint)Options.MaxLinkSpeed) Revert(rel, width, oldValue, LinkCtl2, 0xF, 0, "Target Link Speed");
        }
        if (Wrote(rel, width, DevCtl2, 0xF))
        {
            uint ctv = Field(DevCtl2, 0xF, 0);
            if (ctv != 0 && (TimeoutValueRange[ctv] & (uint)TimeoutRanges) == 0)
                Revert(rel, width, oldValue, DevCtl2, 0xF, 0, "Completion Timeout Value");
        }
        if (SlotImplemented && RegisterBits.Touches(rel, width, SlotCtl, 2)
            && Options.HotPlugCapable && !Options.NoCommandCompletedSupport)
            HotPlugEvent(CommandCompleted, CommandCompletedEnable); // commands complete at once (§6.7.3)
        if (PortType == PciePortType.RootPort && RegisterBits.Touches(rel, width, RootSta, 4)
            && (Reg(RootSta, 4) & RootPmeStatus) == 0 && _pmeRequests.Count > 0)
            LatchPme(_pmeRequests.Dequeue());
    }

    void DeviceControlWritten(int rel, int width, uint oldValue, uint written)
    {
        if (Wrote(rel, width, DevCtl, MpsMask) && Field(DevCtl, MpsMask, 5) > (uint)MpsEncoding(Options.MaxPayloadSizeSupported))
            Revert(rel, width, oldValue, DevCtl, MpsMask, 5, "Max_Payload_Size");
        if (Wrote(rel, width, DevCtl, MrrsMask) && Field(DevCtl, MrrsMask, 12) > 5) // 110b, 111b reserved
            Revert(rel, width, oldValue, DevCtl, MrrsMask, 12, "Max_Read_Request_Size");
        if ((RegisterBits.Written(rel, width, written, DevCtl, 2) & InitiateFlr) == 0) return;
        // Initiate Function Level Reset always reads 0; on a function without FLR the bit is reserved (§7.5.3.4).
        if (!FlrCapable)
        {
            Log.FlrNotCapable(Function.Logger, Function.Name);
            return;
        }
        Log.InitiateFlr(Function.Logger, Function.Name);
        RememberFlrKeptFields(); // this very write may have changed Max_Payload_Size
        Function.FunctionLevelReset();
    }

    void LinkControlWritten(int rel, int width, uint oldValue, uint written)
    {
        uint w = RegisterBits.Written(rel, width, written, LinkCtl, 2);
        if (IsDownstreamFacing && (w & RetrainLinkBit) != 0 && !LinkDisabled && _linkUp && BandwidthNotification)
            Config.SetBits(Offset + LinkSta, 2, LinkBandwidthManagementStatus, true); // retraining completed (§7.5.3.8)
        ApplyLinkState(); // Link Disable may have changed
        // Nothing crosses a disabled link (§2.9.1): the fabric re-resolves routes through this port.
        if (LinkDisabled != _linkDisabledSeen)
        {
            _linkDisabledSeen = LinkDisabled;
            (Function as BridgeFunction)?.NotifyRoutingChanged();
        }
    }

    bool _linkDisabledSeen;

    static bool Wrote(int rel, int width, int reg, uint mask) => (RegisterBits.WrittenMask(rel, width, reg, 2) & mask) != 0;
    uint Field(int reg, uint mask, int shift) => (Reg(reg, 2) & mask) >> shift;

    /// <summary>Restores a 16-bit register's field to its value before the write (the written value is not supported).</summary>
    void Revert(int rel, int width, uint oldValue, int reg, uint mask, int shift, string field)
    {
        uint now = Reg(reg, 2);
        uint value = (now & mask) >> shift;
        uint before = RegisterBits.Before(rel, width, oldValue, reg, 2, now);
        SetReg(reg, 2, (now & ~mask) | (before & mask));
        Log.FieldWriteRejected(Function.Logger, Function.Name, field, (int)value, (int)((before & mask) >> shift));
    }

    void RememberFlrKeptFields()
    {
        _flrKeptDevCtl = Reg(DevCtl, 2) & FlrKeptDevCtl;
        _flrKeptLinkCtl = Reg(LinkCtl, 2) & FlrKeptLinkCtl;
    }

    public override void OnReset(ResetKind kind)
    {
        if (kind == ResetKind.FunctionLevel)
        {
            SetReg(DevCtl, 2, (Reg(DevCtl, 2) & ~FlrKeptDevCtl) | _flrKeptDevCtl);
            SetReg(LinkCtl, 2, (Reg(LinkCtl, 2) & ~FlrKeptLinkCtl) | _flrKeptLinkCtl);
        }
        else RememberFlrKeptFields();
        _pmeRequests.Clear();
        // Link Disable is cleared by the reset; the reset image already carries the current link state.
        _linkDisabledSeen = LinkDisabled; // the bridge raises RoutingChanged on reset itself
    }
}
