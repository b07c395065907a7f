using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class AcsCapabilityTests
{
    static AcsCapability Port(AcsOptions o)
    {
        var acs = new AcsCapability(o);
        Fn.Bridge(BridgePortKind.SwitchDownstreamPort, new PciExpressCapability(new() { PortType = PciePortType.SwitchDownstreamPort }), acs);
        return acs;
    }

    [Test]
    public void Capability_EncodesSupportedSetAndVectorSize()
    {
        var acs = Port(new() { Supported = AcsFeatures.SourceValidation | AcsFeatures.P2PEgressControl, EgressControlVectorSize = 40 });
        Assert.That(acs.Function.R(acs.Offset + 4, 2), Is.EqualTo(0x21u | 40u << 8));
        Assert.That(acs.Length, Is.EqualTo(16), "two DWORDs of egress vector");
    }

    [Test]
    public void Control_WritableOnlyForSupportedFeatures()
    {
        var acs = Port(new() { Supported = AcsFeatures.P2PRequestRedirect | AcsFeatures.UpstreamForwarding });
        acs.Function.W(acs.Offset + 6, 2, 0xFFFF);
        Assert.That(acs.Enabled, Is.EqualTo(AcsFeatures.P2PRequestRedirect | AcsFeatures.UpstreamForwarding));
        Assert.That(acs.IsEnabled(AcsFeatures.SourceValidation), Is.False);
        acs.Function.W(acs.Offset + 4, 2, 0);
        Assert.That(acs.Function.R(acs.Offset + 4, 2), Is.EqualTo(0x14u), "ACS Capability is RO");
    }

    [Test]
    public void EgressVector_ImplementedBitsOnly()
    {
        var acs = Port(new() { Supported = AcsFeatures.P2PEgressControl, EgressControlVectorSize = 40 });
        acs.Function.W(acs.Offset + 8, 4, 0xFFFF_FFFF);
        acs.Function.W(acs.Offset + 12, 4, 0xFFFF_FFFF);
        Assert.That(acs.Function.R(acs.Offset + 12, 4), Is.EqualTo(0xFFu));
        Assert.That(acs.IsEgressBlocked(39), Is.True);
        Assert.That(acs.IsEgressBlocked(40), Is.False);
    }

    [Test]
    public void EgressVectorSize256_EncodesAsZero()
    {
        var acs = Port(new() { Supported = AcsFeatures.P2PEgressControl, EgressControlVectorSize = 256 });
        Assert.That(acs.Function.R(acs.Offset + 4, 2) >> 8, Is.Zero);
        Assert.That(acs.Length, Is.EqualTo(8 + 32));
    }

    [Test]
    public void Reset_ClearsControl()
    {
        var acs = Port(new() { Supported = AcsFeatures.P2PRequestRedirect });
        acs.Function.W(acs.Offset + 6, 2, 0x4);
        acs.Function.Reset(ResetKind.Hot);
        Assert.That(acs.Enabled, Is.EqualTo(AcsFeatures.None));
    }

    [Test]
    public void EgressControlWithoutSize_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new AcsCapability(new() { Supported = AcsFeatures.P2PEgressControl }));

    [Test]
    public void PortOnlyFeatureOnEndpoint_IsRejectedAtSeal()
    {
        var f = new EndpointFunction("ep", Fn.Identity);
        f.AddCapability(new PciExpressCapability());
        f.AddCapability(new AcsCapability(new() { Supported = AcsFeatures.SourceValidation }));
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }

    [Test]
    public void SwitchUpstreamPort_IsRejectedAtSeal()
    {
        var f = new BridgeFunction("up", Fn.Identity, BridgePortKind.SwitchUpstreamPort);
        f.AddCapability(new PciExpressCapability(new() { PortType = PciePortType.SwitchUpstreamPort }));
        f.AddCapability(new AcsCapability(new() { Supported = AcsFeatures.P2PRequestRedirect }));
        Assert.Throws<InvalidOperationException>(() => f.Seal());
    }
}
