using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class PciExpressCapabilityTests
{
    // Register offsets inside the capability (§7.5.3).
    const int Caps = 0x02, DevCap = 0x04, DevCtl = 0x08, DevSta = 0x0A, LinkCap = 0x0C, LinkCtl = 0x10, LinkSta = 0x12,
        SlotCap = 0x14, SlotCtl = 0x18, SlotSta = 0x1A, RootCtl = 0x1C, RootSta = 0x20, DevCap2 = 0x24, DevCtl2 = 0x28,
        LinkCap2 = 0x2C, LinkCtl2 = 0x30;

    static PciExpressCapability Endpoint(PciExpressOptions o, params PciCapability[] more)
    {
        var pcie = new PciExpressCapability(o);
        Fn.Endpoint([pcie, .. more]);
        return pcie;
    }

    static PciExpressCapability Port(BridgePortKind kind, PciExpressOptions o, params PciCapability[] more)
    {
        var pcie = new PciExpressCapability(o);
        Fn.Bridge(kind, [pcie, .. more]);
        return pcie;
    }

    static uint R(PciExpressCapability c, int rel, int width) => c.Function.R(c.Offset + rel, width);
    static void W(PciExpressCapability c, int rel, int width, uint v) => c.Function.W(c.Offset + rel, width, v);

    [TestCase(PciePortType.Endpoint, 0x0002u)]
    [TestCase(PciePortType.LegacyEndpoint, 0x0012u)]
    [TestCase(PciePortType.RcIntegratedEndpoint, 0x0092u)]
    public void PcieCapabilities_VersionAndPortType(PciePortType type, uint expected)
    {
        var c = Endpoint(new() { PortType = type });
        Assert.That(R(c, Caps, 2), Is.EqualTo(expected));
        Assert.That(R(c, 0, 1), Is.EqualTo(0x10u), "capability ID");
    }

    [Test]
    public void ReadOnlyRegisters_IgnoreWrites()
    {
        var c = Endpoint(new() { FlrCapable = true });
        foreach (int rel in new[] { Caps, DevCap, LinkCap, DevCap2, LinkCap2 })
        {
            int width = rel == Caps ? 2 : 4;
            uint before = R(c, rel, width);
            W(c, rel, width, ~before);
            Assert.That(R(c, rel, width), Is.EqualTo(before), $"register +0x{rel:x2}");
        }
    }

    [Test]
    public void DeviceCapabilities_EndpointFields()
    {
        var c = Endpoint(new() { MaxPayloadSizeSupported = 1024, FlrCapable = true, L0sAcceptableLatency = 3, L1AcceptableLatency = 5 });
        uint devCap = R(c, DevCap, 4);
        Assert.That(devCap & 7, Is.EqualTo(3u), "1024 bytes");
        Assert.That((devCap >> 3) & 3, Is.Zero, "no phantom functions");
        Assert.That((devCap >> 5) & 1, Is.EqualTo(1u), "extended tag");
        Assert.That((devCap >> 6) & 7, Is.EqualTo(3u));
        Assert.That((devCap >> 9) & 7, Is.EqualTo(5u));
        Assert.That((devCap >> 15) & 1, Is.EqualTo(1u), "Role-Based Error Reporting");
        Assert.That((devCap >> 28) & 1, Is.EqualTo(1u), "FLR capable");
    }

    [Test]
    public void DeviceControl_ResetValuesAndWritableBits()
    {
        var c = Endpoint(new() { ExtendedTagSupported = false });
        Assert.That(R(c, DevCtl, 2), Is.EqualTo(0x2810u), "Relaxed Ordering, No Snoop, MRRS 512");
        W(c, DevCtl, 2, 0x5F1F); // MRRS 4096, MPS 128, every other bit set
        Assert.That(R(c, DevCtl, 2), Is.EqualTo(0x5C1Fu), "no Ext Tag (unsupported) nor Phantom Functions");
    }

    [Test]
    public void MaxPayloadSize_UnsupportedValue_KeepsPrevious()
    {
        var c = Endpoint(new() { MaxPayloadSizeSupported = 256 });
        W(c, DevCtl, 2, (R(c, DevCtl, 2) & ~0xE0u) | 1u << 5);
        Assert.That(c.MaxPayloadSize, Is.EqualTo(256));
        W(c, DevCtl, 2, (R(c, DevCtl, 2) & ~0xE0u) | 2u << 5); // 512 > supported
        Assert.That(c.MaxPayloadSize, Is.EqualTo(256));
        W(c, DevCtl, 2, R(c, DevCtl, 2) & ~0xE0u);
        Assert.That(c.MaxPayloadSize, Is.EqualTo(128));
    }

    [Test]
    public void MaxReadRequestSize_ReservedEncoding_KeepsPrevious()
    {
        var c = Endpoint(new());
        W(c, DevCtl, 2, (R(c, DevCtl, 2) & ~0x7000u) | 5u << 12);
        Assert.That(c.MaxReadRequestSize, Is.EqualTo(4096));
        W(c, DevCtl, 2, (R(c, DevCtl, 2) & ~0x7000u) | 6u << 12);
        Assert.That(c.MaxReadRequestSize, Is.EqualTo(4096));
    }

    [Test]
    public void InitiateFlr_ResetsFunctionConfig_AndReadsZero()
    {
        var msi = new MsiCapability(new());
        var c = Endpoint(new() { FlrCapable = true }, msi);
        var f = c.Function;
        f.W(PciRegs.Command, 2, 0x6);
        f.W(msi.Offset + 2, 2, 1);
        W(c, DevCtl, 2, R(c, DevCtl, 2) | 0xF);
        W(c, DevCtl, 2, R(c, DevCtl, 2) | 0x8000);
        Assert.That(f.R(PciRegs.Command, 2), Is.Zero, "Command back to 0");
        Assert.That(msi.IsEnabled, Is.False);
        Assert.That(R(c, DevCtl, 2), Is.EqualTo(0x2810u), "Device Control at reset value; Initiate FLR reads 0");
    }

    [Test]
    public void InitiateFlr_ByteWriteToUpperHalf_AlsoResets()
    {
        var c = Endpoint(new() { FlrCapable = true });
        c.Function.W(PciRegs.Command, 2, 0x2);
        c.Function.W(c.Offset + DevCtl + 1, 1, 0x80);
        Assert.That(c.Function.R(PciRegs.Command, 2), Is.Zero);
    }

    [Test]
    public void InitiateFlr_OnFunctionWithoutFlr_DoesNothing()
    {
        var c = Endpoint(new() { FlrCapable = false });
        c.Function.W(PciRegs.Command, 2, 0x6);
        W(c, DevCtl, 2, R(c, DevCtl, 2) | 0x8000);
        Assert.That(c.Function.R(PciRegs.Command, 2), Is.EqualTo(0x6u));
        Assert.That(R(c, DevCtl, 2) & 0x8000, Is.Zero);
    }

    [Test]
    public void DeviceStatus_ErrorBitsAreRw1c_TransactionsPendingRo()
    {
        var c = Endpoint(new() { AuxPowerDetected = true });
        c.ReportError(ErrorSeverity.NonFatal, unsupportedRequest: true);
        c.ReportError(ErrorSeverity.Correctable);
        c.SetTransactionsPending(true);
        Assert.That(R(c, DevSta, 2), Is.EqualTo(0b111011u), "CED, NFED, URD, AUX power, Transactions Pending");
        W(c, DevSta, 2, 0b0010 | 0x30);
        Assert.That(R(c, DevSta, 2), Is.EqualTo(0b111001u), "only NFED cleared; RO bits untouched");
    }

    [Test]
    public void ReportError_MessageFollowsReportingEnablesAndSerr()
    {
        var c = Endpoint(new());
        Assert.That(c.ReportError(ErrorSeverity.Fatal), Is.EqualTo(ErrorMessage.None));
        c.Function.W(PciRegs.Command, 2, (uint)PciCommand.SerrEnable);
        Assert.That(c.ReportError(ErrorSeverity.Fatal), Is.EqualTo(ErrorMessage.Fatal), "SERR# Enable reports fatal errors");
        Assert.That(c.ReportError(ErrorSeverity.Correctable), Is.EqualTo(ErrorMessage.None), "but not correctable ones");
        Assert.That(c.ReportError(ErrorSeverity.NonFatal, unsupportedRequest: true), Is.EqualTo(ErrorMessage.None), "UR needs UR Reporting Enable");
        W(c, DevCtl, 2, R(c, DevCtl, 2) | 0x9);
        Assert.That(c.ReportError(ErrorSeverity.NonFatal, unsupportedRequest: true), Is.EqualTo(ErrorMessage.NonFatal));
        Assert.That(c.ReportError(ErrorSeverity.Correctable), Is.EqualTo(ErrorMessage.Correctable));
    }

    [Test]
    public void LinkRegisters_ReflectOptions()
    {
        var c = Endpoint(new() { MaxLinkSpeed = PcieLinkSpeed.Gt16, MaxLinkWidth = 8, LinkSpeed = PcieLinkSpeed.Gt8, LinkWidth = 4, AspmSupport = AspmSupport.L0sAndL1, PortNumber = 7 });
        uint cap = R(c, LinkCap, 4);
        Assert.That(cap & 0xF, Is.EqualTo(4u));
        Assert.That((cap >> 4) & 0x3F, Is.EqualTo(8u));
        Assert.That((cap >> 10) & 3, Is.EqualTo(3u));
        Assert.That(cap >> 24, Is.EqualTo(7u));
        Assert.That(c.LinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt8));
        Assert.That(c.LinkWidth, Is.EqualTo(4));
        Assert.That(R(c, LinkCap2, 4), Is.EqualTo(0b11110u), "2.5, 5, 8, 16 GT/s");
        Assert.That(c.TargetLinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt16));
    }

    [Test]
    public void AspmControl_OnlySupportedStatesWritable()
    {
        var c = Endpoint(new() { AspmSupport = AspmSupport.L1 });
        W(c, LinkCtl, 2, 0x3);
        Assert.That(R(c, LinkCtl, 2) & 3, Is.EqualTo(2u));
    }

    [Test]
    public void EndpointLinkControl_LinkDisableAndRetrainAreReserved()
    {
        var c = Endpoint(new());
        W(c, LinkCtl, 2, 0x30);
        Assert.That(R(c, LinkCtl, 2) & 0x30, Is.Zero);
    }

    [Test]
    public void TargetLinkSpeed_IsStickyAndRejectsUnsupported()
    {
        var c = Endpoint(new() { MaxLinkSpeed = PcieLinkSpeed.Gt8 });
        W(c, LinkCtl2, 2, 2);
        Assert.That(c.TargetLinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt5));
        W(c, LinkCtl2, 2, 4);
        Assert.That(c.TargetLinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt5), "16 GT/s is not supported");
        c.Function.Reset(ResetKind.FunctionLevel);
        Assert.That(c.TargetLinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt5), "RWS survives FLR");
        c.Function.Reset(ResetKind.Fundamental);
        Assert.That(c.TargetLinkSpeed, Is.EqualTo(PcieLinkSpeed.Gt8));
    }

    [Test]
    public void RcIntegratedEndpoint_HasNoLinkRegisters()
    {
        var c = Endpoint(new() { PortType = PciePortType.RcIntegratedEndpoint });
        Assert.That(R(c, LinkCap, 4) | R(c, LinkSta, 2) | R(c, LinkCap2, 4) | R(c, LinkCtl2, 2), Is.Zero);
    }

    [Test]
    public void AuxPowerPmEnable_IsSticky()
    {
        var c = Endpoint(new());
        W(c, DevCtl, 2, R(c, DevCtl, 2) | 0x400 | 0x1);
        c.Function.Reset(ResetKind.FunctionLevel);
        Assert.That(R(c, DevCtl, 2), Is.EqualTo(0x2810u | 0x400), "AUX Power PM Enable kept, Correctable Reporting Enable reset");
    }

    [Test]
    public void CompletionTimeoutValue_AcceptsSupportedRangesOnly()
    {
        var c = Endpoint(new() { CompletionTimeoutRanges = CompletionTimeoutRanges.B });
        W(c, DevCtl2, 2, 0x6); // 65-210 ms, range B
        Assert.That(R(c, DevCtl2, 2) & 0xF, Is.EqualTo(6u));
        W(c, DevCtl2, 2, 0x9); // range C not supported
        Assert.That(R(c, DevCtl2, 2) & 0xF, Is.EqualTo(6u));
    }

    [Test]
    public void AriForwarding_WritableOnDownstreamPortThatSupportsIt()
    {
        var dp = Port(BridgePortKind.SwitchDownstreamPort, new() { PortType = PciePortType.SwitchDownstreamPort, AriForwardingSupported = true });
        Assert.That(R(dp, DevCap2, 4) & 0x20, Is.EqualTo(0x20u));
        Assert.That(R(dp, DevCap2, 4) & 0x1F, Is.Zero, "switch ports issue no requests: no completion timeout");
        W(dp, DevCtl2, 2, 0x20);
        Assert.That(dp.AriForwardingEnabled, Is.True);
        var ep = Endpoint(new());
        W(ep, DevCtl2, 2, 0x20);
        Assert.That(ep.AriForwardingEnabled, Is.False);
    }

    [Test]
    public void TenBitTagRequesterEnable_WritableOnlyWhenSupported()
    {
        var yes = Endpoint(new() { TenBitTagRequesterSupported = true });
        var no = Endpoint(new());
        W(yes, DevCtl2, 2, 0x1000);
        W(no, DevCtl2, 2, 0x1000);
        Assert.That(yes.TenBitTagRequesterEnabled, Is.True);
        Assert.That(no.TenBitTagRequesterEnabled, Is.False);
    }

    [Test]
    public void DownstreamPortWithoutSlot_PresenceDetectHardwiredOne()
    {
        var dp = Port(BridgePortKind.SwitchDownstreamPort, new() { PortType = PciePortType.SwitchDownstreamPort });
        Assert.That(R(dp, SlotSta, 2), Is.EqualTo(0x40u));
        Assert.That(R(dp, Caps, 2) & 0x100, Is.Zero, "no Slot Implemented");
    }

    [Test]
    public void RetrainLink_ReadsZero_SetsBandwidthManagementStatus()
    {
        var rp = Port(BridgePortKind.RootPort, new() { PortType = PciePortType.RootPort });
        W(rp, LinkCtl, 2, 0x20);
        Assert.That(R(rp, LinkCtl, 2) & 0x20, Is.Zero);
        Assert.That(R(rp, LinkSta, 2) & 0x4000, Is.EqualTo(0x4000u));
        W(rp, LinkSta, 2, 0x4000);
        Assert.That(R(rp, LinkSta, 2) & 0x4000, Is.Zero, "Link Bandwidth Management Status is RW1C");
    }

    [Test]
    public void LinkDisable_DropsDataLinkLayerActive()
    {
        var rp = Port(BridgePortKind.RootPort, new() { PortType = PciePortType.RootPort });
        Assert.That(rp.DataLinkLayerActive, Is.True);
        W(rp, LinkCtl, 2, 0x10);
        Assert.That(rp.DataLinkLayerActive, Is.False);
        W(rp, LinkCtl, 2, 0);
        Assert.That(rp.DataLinkLayerActive, Is.True);
    }

    static PciExpressCapability HotPlugPort(params PciCapability[] more) =>
        Port(BridgePortKind.SwitchDownstreamPort, new()
        {
            PortType = PciePortType.SwitchDownstreamPort, SlotImplemented = true, HotPlugCapable = true, PhysicalSlotNumber = 12,
            PowerIndicatorPresent = true, CardPresent = false, InterruptMessageNumber = 0,
        }, more);

    [Test]
    public void Slot_CapabilitiesAndEmptySlot()
    {
        var dp = HotPlugPort();
        Assert.That(R(dp, Caps, 2) & 0x100, Is.EqualTo(0x100u));
        uint cap = R(dp, SlotCap, 4);
        Assert.That(cap >> 19, Is.EqualTo(12u));
        Assert.That(cap & 0x40, Is.EqualTo(0x40u), "hot-plug capable");
        Assert.That(dp.PresenceDetected, Is.False);
        Assert.That(dp.DataLinkLayerActive, Is.False, "an empty slot has no link");
        Assert.That((R(dp, SlotCtl, 2) >> 8) & 3, Is.EqualTo(3u), "power indicator off");
    }

    [Test]
    public void SetPresence_SetsStateAndChanged_InterruptWhenEnabled()
    {
        var msi = new MsiCapability(new());
        var dp = HotPlugPort(msi);
        var up = new RecordingUpstream();
        var f = dp.Function;
        f.Upstream = up;
        f.EnableBusMaster();
        f.W(msi.Offset + 4, 4, 0xFEE0_0000);
        f.W(msi.Offset + 0x0C, 2, 0x31);
        f.W(msi.Offset + 2, 2, 1);
        int raised = 0;
        dp.InterruptRequested += _ => raised++;
        W(dp, SlotCtl, 2, R(dp, SlotCtl, 2) | 0x28 | 0x1000); // Presence Detect Changed + Hot-Plug Interrupt + DLL State Changed enables
        up.Writes.Clear();
        raised = 0;

        dp.SetPresence(true);
        Assert.That(R(dp, SlotSta, 2) & 0x48, Is.EqualTo(0x48u), "Presence Detect State and Changed");
        Assert.That(raised, Is.EqualTo(1));
        Assert.That(up.Writes, Has.Count.EqualTo(1));
        Assert.That(up.Writes[0].Data, Is.EqualTo(0x31u));

        dp.SetDataLinkLayerActive(true);
        Assert.That(dp.DataLinkLayerActive, Is.True);
        Assert.That(R(dp, SlotSta, 2) & 0x100, Is.EqualTo(0x100u), "DLL State Changed");
        Assert.That(raised, Is.EqualTo(2));

        W(dp, SlotSta, 2, 0x108);
        Assert.That(R(dp, SlotSta, 2) & 0x108, Is.Zero, "change bits RW1C");
        Assert.That(dp.PresenceDetected, Is.True, "state bit RO");
    }

    [Test]
    public void SetPresence_IsHardwareState_SurvivesHotReset()
    {
        var dp = HotPlugPort();
        dp.SetPresence(true);
        dp.Function.Reset(ResetKind.Hot);
        Assert.That(dp.PresenceDetected, Is.True);
    }

    [Test]
    public void SlotControlWrite_CompletesCommandImmediately()
    {
        var dp = HotPlugPort();
        W(dp, SlotCtl, 2, R(dp, SlotCtl, 2) ^ 0x300);
        Assert.That(R(dp, SlotSta, 2) & 0x10, Is.EqualTo(0x10u), "Command Completed");
    }

    [Test]
    public void SlotControl_AbsentFeaturesReadOnlyZero()
    {
        var dp = HotPlugPort();
        W(dp, SlotCtl, 2, 0xFFFF);
        Assert.That(R(dp, SlotCtl, 2), Is.EqualTo(0x0300u | 0x38 | 0x1000), "power indicator, PDC/CC/HP enables, DLL State Changed enable");
    }

    [Test]
    public void RootPort_PmeMessages_LatchFirstAndQueueOthers()
    {
        var rp = Port(BridgePortKind.RootPort, new() { PortType = PciePortType.RootPort });
        rp.ReceivePme(new Bdf(2, 0, 0));
        rp.ReceivePme(new Bdf(3, 0, 1));
        uint sta = R(rp, RootSta, 4);
        Assert.That(sta & 0xFFFF, Is.EqualTo(0x0200u));
        Assert.That(sta >> 16, Is.EqualTo(0b11u), "PME Status and PME Pending");
        W(rp, RootSta, 4, 1u << 16);
        sta = R(rp, RootSta, 4);
        Assert.That(sta & 0xFFFF, Is.EqualTo(0x0301u), "next requester latched");
        Assert.That(sta >> 16, Is.EqualTo(0b01u));
        W(rp, RootCtl, 2, 0x1F);
        Assert.That(R(rp, RootCtl, 2), Is.EqualTo(0xFu), "CRS Software Visibility Enable needs the capability");
    }

    [TestCase(PciePortType.RootPort)]
    [TestCase(PciePortType.SwitchUpstreamPort)]
    public void Options_FlrOnPort_IsRejected(PciePortType t) =>
        Assert.Throws<ArgumentException>(() => new PciExpressCapability(new() { PortType = t, FlrCapable = true }));

    [Test]
    public void Options_SlotOnEndpoint_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new PciExpressCapability(new() { SlotImplemented = true }));

    [Test]
    public void Options_AriForwardingOnEndpoint_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new PciExpressCapability(new() { AriForwardingSupported = true }));

    [Test]
    public void Options_LinkWiderThanMax_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new PciExpressCapability(new() { MaxLinkWidth = 4, LinkWidth = 8 }));

    [Test]
    public void Seal_PortTypeNotMatchingHeader_Throws()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.AddCapability(new PciExpressCapability(new() { PortType = PciePortType.RootPort }));
        Assert.Throws<InvalidOperationException>(() => f.Seal());
        var b = new BridgeFunction("b", Fn.Identity, BridgePortKind.SwitchUpstreamPort);
        b.AddCapability(new PciExpressCapability(new() { PortType = PciePortType.SwitchDownstreamPort }));
        Assert.Throws<InvalidOperationException>(() => b.Seal());
    }
}
