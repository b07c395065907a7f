using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Capabilities;

/// <summary>
/// Layout checks against an independent decoder: the real lspci (pciutils) decodes our config space
/// dumps. Skipped when lspci is not installed.
/// </summary>
[TestFixture]
public class LspciDecodeTests
{
    static EndpointFunction FullEndpoint()
    {
        var f = new EndpointFunction("ep", Fn.Identity with { InterruptPin = 1 });
        f.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x4000));
        f.AddCapability(new PowerManagementCapability(new() { PmeSupport = PmeSupport.D0 | PmeSupport.D3Hot }));
        f.AddCapability(new MsiCapability(new() { VectorsRequested = 4, PerVectorMasking = true }));
        f.AddCapability(new PciExpressCapability(new()
        {
            PortType = PciePortType.Endpoint, FlrCapable = true, MaxPayloadSizeSupported = 512,
            MaxLinkSpeed = PcieLinkSpeed.Gt16, MaxLinkWidth = 8, LinkWidth = 4, L0sAcceptableLatency = 6, L1AcceptableLatency = 6,
            TenBitTagCompleterSupported = true,
        }));
        f.AddCapability(new MsixCapability(16, 0, 0x2000, 0, 0x3000));
        f.AddCapability(new AerCapability(new() { EcrcGenerationCapable = true, EcrcCheckCapable = true }));
        f.AddCapability(new AriCapability(new() { NextFunctionNumber = 1 }));
        f.AddCapability(new DeviceSerialNumberCapability(0x0011_2233_4455_6677));
        f.AddCapability(new AcsCapability(new() { Supported = AcsFeatures.P2PRequestRedirect | AcsFeatures.P2PCompletionRedirect | AcsFeatures.DirectTranslatedP2P }));
        f.Seal();
        return f;
    }

    [Test]
    public void Endpoint_AllCapabilitiesDecode()
    {
        var f = FullEndpoint();
        string text = Lspci.DecodeOrIgnore((new Bdf(1, 0, 0), f));
        Assert.That(text, Does.Contain("Capabilities: [40] Power Management version 3"));
        Assert.That(text, Does.Contain("PME(D0+,D1-,D2-,D3hot+,D3cold-)"));
        Assert.That(text, Does.Contain("MSI: Enable- Count=1/4 Maskable+ 64bit+"));
        Assert.That(text, Does.Contain("Express (v2) Endpoint, MSI 00"));
        Assert.That(text, Does.Contain("MaxPayload 512 bytes, PhantFunc 0, Latency L0s <4us, L1 <64us"));
        Assert.That(text, Does.Contain("RBE+ FLReset+"));
        Assert.That(text, Does.Contain("MaxPayload 128 bytes, MaxReadReq 512 bytes"));
        Assert.That(text, Does.Contain("Speed 16GT/s, Width x8, ASPM L1"));
        Assert.That(text, Does.Contain("LnkSta:\tSpeed 16GT/s, Width x4"));
        Assert.That(text, Does.Contain("Supported Link Speeds: 2.5-16GT/s"));
        Assert.That(text, Does.Contain("Completion Timeout: Range ABCD, TimeoutDis+"));
        Assert.That(text, Does.Contain("MSI-X: Enable- Count=16 Masked-"));
        Assert.That(text, Does.Contain("Vector table: BAR=0 offset=00002000"));
        Assert.That(text, Does.Contain("PBA: BAR=0 offset=00003000"));
        Assert.That(text, Does.Contain("[100 v2] Advanced Error Reporting"));
        Assert.That(text, Does.Contain("UESvrt:\tDLP+ SDES+ TLP- FCP+ CmpltTO- CmpltAbrt- UnxCmplt- RxOF+ MalfTLP+ ECRC- UnsupReq-"));
        Assert.That(text, Does.Contain("CEMsk:\tRxErr- BadTLP- BadDLLP- Rollover- Timeout- AdvNonFatalErr+"));
        Assert.That(text, Does.Contain("ECRCGenCap+ ECRCGenEn- ECRCChkCap+ ECRCChkEn-"));
        Assert.That(text, Does.Contain("ARICap:\tMFVC- ACS-, Next Function: 1"));
        Assert.That(text, Does.Contain("Device Serial Number 00-11-22-33-44-55-66-77"));
        Assert.That(text, Does.Contain("ACSCap:\tSrcValid- TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd- EgressCtrl- DirectTrans+"));
    }

    [Test]
    public void Endpoint_ProgrammedState_Decodes()
    {
        var f = FullEndpoint();
        var pcie = f.FindCapability<PciExpressCapability>()!;
        var msix = f.FindCapability<MsixCapability>()!;
        f.W(pcie.Offset + 8, 2, 0x2000 | 1 << 5 | 0xF); // MRRS 512, MPS 256, all reporting enables
        f.W(msix.Offset + 2, 2, 0xC000);
        f.FindCapability<AerCapability>()!.RecordError(AerError.UnsupportedRequest, [0x04, 0x00, 0x00, 0x01, 0x00, 0x00, 0x22, 0x0f]);
        string text = Lspci.DecodeOrIgnore((new Bdf(1, 0, 0), f));
        Assert.That(text, Does.Contain("DevCtl:\tCorrErr+ NonFatalErr+ FatalErr+ UnsupReq+"));
        Assert.That(text, Does.Contain("MaxPayload 256 bytes, MaxReadReq 512 bytes"));
        Assert.That(text, Does.Contain("DevSta:\tCorrErr- NonFatalErr+ FatalErr- UnsupReq+"));
        Assert.That(text, Does.Contain("MSI-X: Enable+ Count=16 Masked+"));
        Assert.That(text, Does.Contain("UnxCmplt- RxOF- MalfTLP- ECRC- UnsupReq+"));
        Assert.That(text, Does.Contain("First Error Pointer: 14"));
        Assert.That(text, Does.Contain("HeaderLog: 04000001 0000220f 00000000 00000000"), "byte 0 of the header is the MSB of DW 0");
    }

    [Test]
    public void RootPort_Decodes()
    {
        var rp = Fn.Bridge(BridgePortKind.RootPort,
            new PciExpressCapability(new()
            {
                PortType = PciePortType.RootPort, SlotImplemented = true, PhysicalSlotNumber = 3, HotPlugCapable = true,
                PowerIndicatorPresent = true, AttentionIndicatorPresent = true, AriForwardingSupported = true, PortNumber = 1,
                MaxLinkSpeed = PcieLinkSpeed.Gt8, MaxLinkWidth = 16, CrsSoftwareVisibility = true,
            }),
            new MsiCapability(new()),
            new AerCapability(new() { PortType = PciePortType.RootPort }),
            new AcsCapability(new() { Supported = AcsFeatures.SourceValidation | AcsFeatures.P2PRequestRedirect | AcsFeatures.P2PCompletionRedirect | AcsFeatures.UpstreamForwarding | AcsFeatures.P2PEgressControl, EgressControlVectorSize = 8 }));
        string text = Lspci.DecodeOrIgnore((new Bdf(0, 1, 0), rp));
        Assert.That(text, Does.Contain("Express (v2) Root Port (Slot+), MSI 00"));
        Assert.That(text, Does.Contain("Port #1, Speed 8GT/s, Width x16"));
        Assert.That(text, Does.Contain("LLActRep+ BwNot+"));
        Assert.That(text, Does.Contain("DLActive+"));
        Assert.That(text, Does.Contain("AttnInd+ PwrInd+ HotPlug+ Surprise-"));
        Assert.That(text, Does.Contain("Slot #3, PowerLimit 0W; Interlock- NoCompl-"));
        Assert.That(text, Does.Contain("Control: AttnInd Off, PwrInd On, Power- Interlock-"));
        Assert.That(text, Does.Contain("PresDet+"));
        Assert.That(text, Does.Contain("RootCap: CRSVisible+"));
        Assert.That(text, Does.Contain("RootSta: PME ReqID 0000, PMEStatus- PMEPending-"));
        Assert.That(text, Does.Contain("ARIFwd+"));
        Assert.That(text, Does.Contain("RootCmd: CERptEn- NFERptEn- FERptEn-"));
        Assert.That(text, Does.Contain("ErrorSrc: ERR_COR: 0000 ERR_FATAL/NONFATAL: 0000"));
        Assert.That(text, Does.Contain("ACSCap:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl+ DirectTrans-"));
    }
}
