using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class AriCapabilityTests
{
    static AriCapability Make(AriOptions o)
    {
        var ari = new AriCapability(o);
        Fn.Endpoint(new PciExpressCapability(), ari);
        return ari;
    }

    [Test]
    public void Capability_IsReadOnly_WithNextFunctionNumber()
    {
        var ari = Make(new() { NextFunctionNumber = 0x81, AcsFunctionGroups = true });
        Assert.That(ari.Function.R(ari.Offset, 4) & 0xFFFFF, Is.EqualTo(0x1000Eu));
        Assert.That(ari.Function.R(ari.Offset + 4, 2), Is.EqualTo(0x8102u));
        ari.Function.W(ari.Offset + 4, 2, 0);
        Assert.That(ari.NextFunctionNumber, Is.EqualTo(0x81));
    }

    [Test]
    public void SetNextFunctionNumber_SurvivesReset()
    {
        var ari = Make(new());
        ari.SetNextFunctionNumber(5);
        ari.Function.Reset(ResetKind.Fundamental);
        Assert.That(ari.NextFunctionNumber, Is.EqualTo(5));
    }

    [Test]
    public void Control_WithoutFunctionGroups_IsReadOnlyZero()
    {
        var ari = Make(new());
        ari.Function.W(ari.Offset + 6, 2, 0xFFFF);
        Assert.That(ari.Function.R(ari.Offset + 6, 2), Is.Zero);
    }

    [Test]
    public void Control_WithAcsFunctionGroups_EnableAndGroupWritable()
    {
        var ari = Make(new() { AcsFunctionGroups = true });
        ari.Function.W(ari.Offset + 6, 2, 0xFFFF);
        Assert.That(ari.Function.R(ari.Offset + 6, 2), Is.EqualTo(0x72u), "ACS FG enable + Function Group; MFVC enable not capable");
        Assert.That(ari.FunctionGroup, Is.EqualTo(7));
        Assert.That(ari.AcsFunctionGroupsEnabled, Is.True);
        Assert.That(ari.MfvcFunctionGroupsEnabled, Is.False);
    }
}
