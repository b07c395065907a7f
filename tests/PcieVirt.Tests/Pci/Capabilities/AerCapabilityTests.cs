using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class AerCapabilityTests
{
    const int UncStatus = 0x04, UncMask = 0x08, UncSeverity = 0x0C, CorStatus = 0x10, CorMask = 0x14, CapControl = 0x18,
        HeaderLog = 0x1C, RootCommand = 0x2C, RootStatus = 0x30, SourceId = 0x34;
    static readonly byte[] Header = [0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x0F, 0xFE, 0xDC, 0x00, 0x40];

    static (AerCapability Aer, PciExpressCapability Pcie) Make(bool flr = true)
    {
        var pcie = new PciExpressCapability(new() { FlrCapable = flr });
        var aer = new AerCapability(new() { EcrcCheckCapable = true });
        Fn.Endpoint(pcie, aer);
        return (aer, pcie);
    }

    static uint R(PciCapability c, int rel) => c.Function.R(c.Offset + rel, 4);
    static void W(PciCapability c, int rel, uint v) => c.Function.W(c.Offset + rel, 4, v);

    [Test]
    public void Header_IsExtendedCapabilityVersion2At0x100()
    {
        var (aer, _) = Make();
        Assert.That(aer.Offset, Is.EqualTo(0x100));
        Assert.That(aer.Function.R(0x100, 4) & 0xFFFFF, Is.EqualTo(0x20001u));
        Assert.That(aer.Length, Is.EqualTo(0x2C));
    }

    [Test]
    public void Defaults_FollowSpec()
    {
        var (aer, _) = Make();
        Assert.That(R(aer, UncMask), Is.EqualTo(0x0440_0000u));
        Assert.That(R(aer, UncSeverity), Is.EqualTo(0x0046_2030u));
        Assert.That(R(aer, CorMask), Is.EqualTo(0xE000u));
        Assert.That(R(aer, CapControl), Is.EqualTo(1u << 7), "ECRC Check Capable only");
    }

    [Test]
    public void MaskAndSeverity_WritableOnlyForImplementedBits()
    {
        var (aer, _) = Make();
        W(aer, UncMask, 0xFFFF_FFFF);
        W(aer, CorMask, 0xFFFF_FFFF);
        Assert.That(R(aer, UncMask), Is.EqualTo(AerCapability.UncorrectableImplemented));
        Assert.That(R(aer, CorMask), Is.EqualTo(AerCapability.CorrectableImplemented));
    }

    [Test]
    public void EcrcEnables_WritableOnlyWhenCapable()
    {
        var (aer, _) = Make();
        W(aer, CapControl, 0x1FF);
        Assert.That(R(aer, CapControl), Is.EqualTo(1u << 7 | 1u << 8), "check enable set; generation enable and First Error Pointer read-only");
    }

    [Test]
    public void RecordUncorrectable_SetsStatusFirstErrorPointerAndHeaderLog()
    {
        var (aer, pcie) = Make();
        var msg = aer.RecordError(AerError.CompleterAbort, Header);
        Assert.That(R(aer, UncStatus), Is.EqualTo(1u << 15));
        Assert.That(aer.FirstErrorPointer, Is.EqualTo(15));
        Assert.That(R(aer, HeaderLog), Is.EqualTo(0x0000_0001u));
        Assert.That(R(aer, HeaderLog + 4), Is.EqualTo(0x0100_000Fu));
        Assert.That(R(aer, HeaderLog + 8), Is.EqualTo(0xFEDC_0040u));
        Assert.That(R(aer, HeaderLog + 12), Is.Zero, "3-DW header: DW3 zero");
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0x2, Is.EqualTo(0x2u), "Non-Fatal Error Detected (default severity)");
        Assert.That(msg, Is.EqualTo(ErrorMessage.None), "reporting not enabled");
    }

    [Test]
    public void SecondError_DoesNotOverwriteFirstErrorLog_UntilStatusCleared()
    {
        var (aer, _) = Make();
        aer.RecordError(AerError.CompleterAbort, Header);
        aer.RecordError(AerError.MalformedTlp, [0xAA, 0xBB, 0xCC, 0xDD]);
        Assert.That(aer.FirstErrorPointer, Is.EqualTo(15));
        Assert.That(R(aer, HeaderLog), Is.EqualTo(0x0000_0001u));
        Assert.That(R(aer, UncStatus), Is.EqualTo(1u << 15 | 1u << 18));
        W(aer, UncStatus, 1u << 15); // software clears the first error: pointer no longer valid
        aer.RecordError(AerError.UnexpectedCompletion, [0x4A, 0, 0, 1]);
        Assert.That(aer.FirstErrorPointer, Is.EqualTo(16));
        Assert.That(R(aer, HeaderLog), Is.EqualTo(0x4A00_0001u));
    }

    [Test]
    public void MaskedUncorrectable_SetsStatusOnly()
    {
        var (aer, pcie) = Make();
        W(aer, UncMask, 1u << 15);
        aer.RecordError(AerError.CompleterAbort, Header);
        Assert.That(R(aer, UncStatus), Is.EqualTo(1u << 15), "status is set even when masked");
        Assert.That(aer.FirstErrorPointer, Is.Zero);
        Assert.That(R(aer, HeaderLog), Is.Zero);
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0x7, Is.Zero, "no Device Status error bit");
    }

    [Test]
    public void Severity_SelectsFatalOrNonFatal()
    {
        var (aer, pcie) = Make();
        W(aer, UncSeverity, R(aer, UncSeverity) | 1u << 20);
        pcie.Function.W(pcie.Offset + 0x08, 2, pcie.Function.R(pcie.Offset + 0x08, 2) | 0xF);
        Assert.That(aer.RecordError(AerError.UnsupportedRequest, Header), Is.EqualTo(ErrorMessage.Fatal));
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0xF, Is.EqualTo(0b1100u), "Fatal and UR Detected");
    }

    [Test]
    public void Correctable_AdvisoryNonFatalMaskedByDefault_OthersReported()
    {
        var (aer, pcie) = Make();
        pcie.Function.W(pcie.Offset + 0x08, 2, pcie.Function.R(pcie.Offset + 0x08, 2) | 0x1);
        Assert.That(aer.RecordError(AerError.AdvisoryNonFatal, default), Is.EqualTo(ErrorMessage.None));
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 1, Is.Zero);
        Assert.That(aer.RecordError(AerError.BadTlp, default), Is.EqualTo(ErrorMessage.Correctable));
        Assert.That(R(aer, CorStatus), Is.EqualTo(1u << 13 | 1u << 6));
        W(aer, CorStatus, 1u << 6);
        Assert.That(R(aer, CorStatus), Is.EqualTo(1u << 13), "RW1C");
    }

    [Test]
    public void InitiateFlr_ResetsCommandButStickyAerSurvives()
    {
        var (aer, pcie) = Make();
        var f = aer.Function;
        f.W(PciRegs.Command, 2, 0x6);
        W(aer, UncMask, 1u << 20);
        W(aer, CorMask, 0);
        aer.RecordError(AerError.CompletionTimeout, Header);
        aer.RecordError(AerError.ReceiverError, default);
        f.W(pcie.Offset + 0x08, 2, f.R(pcie.Offset + 0x08, 2) | 0x8000);
        Assert.That(f.R(PciRegs.Command, 2), Is.Zero);
        Assert.That(R(aer, UncStatus), Is.EqualTo(1u << 14), "RW1CS survives FLR");
        Assert.That(R(aer, CorStatus), Is.EqualTo(1u));
        Assert.That(R(aer, UncMask), Is.EqualTo(1u << 20), "RWS survives FLR");
        Assert.That(R(aer, CorMask), Is.Zero);
        Assert.That(aer.FirstErrorPointer, Is.EqualTo(14), "ROS survives FLR");
        Assert.That(R(aer, HeaderLog), Is.EqualTo(0x0000_0001u));
        Assert.That(f.R(pcie.Offset + 0x0A, 2) & 0xF, Is.Zero, "Device Status is not sticky");
    }

    [Test]
    public void FundamentalReset_ClearsStickyAer()
    {
        var (aer, _) = Make();
        W(aer, UncMask, 1u << 20);
        aer.RecordError(AerError.CompletionTimeout, Header);
        aer.Function.Reset(ResetKind.Fundamental);
        Assert.That(R(aer, UncStatus), Is.Zero);
        Assert.That(R(aer, UncMask), Is.EqualTo(0x0440_0000u));
        Assert.That(aer.FirstErrorPointer, Is.Zero);
        Assert.That(R(aer, HeaderLog), Is.Zero);
    }

    [Test]
    public void ReportUnsupportedRequest_SetsUrdAndAerStatus()
    {
        var (aer, pcie) = Make();
        PcieErrorReporting.ReportUnsupportedRequest(aer.Function, Header);
        Assert.That(R(aer, UncStatus), Is.EqualTo(1u << 20));
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0xF, Is.EqualTo(0b1010u), "URD + Non-Fatal Detected");
    }

    [Test]
    public void ReportUnsupportedRequest_Masked_StillSetsUrd()
    {
        var (aer, pcie) = Make();
        W(aer, UncMask, 1u << 20);
        PcieErrorReporting.ReportUnsupportedRequest(aer.Function, Header);
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0xF, Is.EqualTo(0b1000u));
    }

    [Test]
    public void ReportUnsupportedRequest_WithoutAer_UsesBaselineDeviceStatus()
    {
        var pcie = new PciExpressCapability();
        Fn.Endpoint(pcie);
        var msg = PcieErrorReporting.ReportUnsupportedRequest(pcie.Function);
        Assert.That(pcie.Function.R(pcie.Offset + 0x0A, 2) & 0xF, Is.EqualTo(0b1010u));
        Assert.That(msg, Is.EqualTo(ErrorMessage.None));
    }

    static AerCapability RootPortAer(RecordingUpstream? up = null)
    {
        var msi = new MsiCapability(new() { VectorsRequested = 4 });
        var aer = new AerCapability(new() { PortType = PciePortType.RootPort, InterruptMessageNumber = 2 });
        var f = Fn.Bridge(BridgePortKind.RootPort, new PciExpressCapability(new() { PortType = PciePortType.RootPort }), msi, aer);
        if (up != null)
        {
            f.Upstream = up;
            f.EnableBusMaster();
            f.W(msi.Offset + 4, 4, 0xFEE0_0000);
            f.W(msi.Offset + 0x0C, 2, 0x40);
            f.W(msi.Offset + 2, 2, 2 << 4 | 1);
        }
        return aer;
    }

    [Test]
    public void RootPort_HasRootRegisters()
    {
        var aer = RootPortAer();
        Assert.That(aer.Length, Is.EqualTo(0x38));
        Assert.That(R(aer, RootStatus) >> 27, Is.EqualTo(2u), "Advanced Error Interrupt Message Number");
        W(aer, RootCommand, 0xFF);
        Assert.That(R(aer, RootCommand), Is.EqualTo(7u));
    }

    [Test]
    public void RootPort_ErrorMessages_UpdateStatusSourceIdAndInterrupt()
    {
        var up = new RecordingUpstream();
        var aer = RootPortAer(up);
        Assert.That(aer.ReceiveErrorMessage(ErrorMessage.Correctable, new Bdf(2, 0, 0)), Is.False, "not enabled");
        W(aer, RootCommand, 0x7);
        aer.ReceiveErrorMessage(ErrorMessage.Correctable, new Bdf(2, 0, 1));
        Assert.That(aer.ReceiveErrorMessage(ErrorMessage.Fatal, new Bdf(3, 0, 0)), Is.True);
        aer.ReceiveErrorMessage(ErrorMessage.NonFatal, new Bdf(4, 0, 0));
        uint sta = R(aer, RootStatus);
        Assert.That(sta & 0x7F, Is.EqualTo(0x7Fu), "COR, multiple COR, UNCOR, multiple UNCOR, first fatal, non-fatal and fatal received");
        Assert.That(R(aer, SourceId), Is.EqualTo(0x0300_0200u), "first sources are kept");
        Assert.That(up.Writes.Select(w => w.Data).Distinct(), Is.EqualTo(new uint[] { 0x42 }), "MSI vector 2");
        W(aer, RootStatus, 0x7F);
        Assert.That(R(aer, RootStatus) & 0x7F, Is.Zero);
    }

    [Test]
    public void Seal_PortTypeMismatchWithPcieCapability_Throws()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.AddCapability(new PciExpressCapability());
        f.AddCapability(new AerCapability(new() { PortType = PciePortType.RootPort }));
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }

    [Test]
    public void Seal_WithoutPcieCapability_Throws()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.AddCapability(new AerCapability());
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }
}
