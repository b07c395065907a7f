using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Cli;

/// <summary>
/// The example shell scripts in devicemodels/scripts run on the default platform and print what the
/// PCIe spec says they must. Addresses are taken from the firmware's enumeration report.
/// </summary>
[TestFixture]
public class ExampleScriptTests
{
    static readonly FunctionModel Nvme0 = PlatformModel.LoadDefault().Hosts[0].AllFunctions().Single(f => f.Name == "nvme0");

    static string[] RunScript(string name)
    {
        var r = Pcievirt.Run("shell", Pcievirt.Script(name));
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        Assert.That(r.Err, Is.Empty);
        return r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    static BarAssignment FirmwareBar0()
    {
        var system = PcieSystem.Boot(PlatformModel.LoadDefault());
        var rc = system.Hosts[0].RootComplex;
        var bdf = rc.AttachedFunctions.Single(f => f.Name == "nvme0").Bdf;
        return system.Hosts[0].Enumeration!.Bars.Single(b => b.Address.Bdf == bdf && b.Register == BarRegister.Bar && b.Index == 0);
    }

    [Test]
    public void Bar_sizing_script_saves_sizes_and_restores_bar0()
    {
        var bar = Nvme0.Bar(0)!;
        Assert.That(bar.Is64Bit && !bar.Prefetchable, "the script explains a 64-bit non-prefetchable BAR");
        var fw = FirmwareBar0();
        string saved0 = $"{(uint)fw.Base | bar.TypeBits:x8}", saved1 = $"{(uint)(fw.Base >> 32):x8}";
        // All ones read back (§7.5.1.2.1): address bits below the size read 0, type bits unchanged.
        ulong sizeMask = ~(bar.Size - 1);
        Assert.That(RunScript("bar-sizing.pcv"), Is.EqualTo(new[]
        {
            "command before:", "0006",                                   // Memory Space + Bus Master from firmware
            "saved:", saved0, saved1,
            "all ones read back:", $"{(uint)sizeMask | bar.TypeBits:x8}", $"{(uint)(sizeMask >> 32):x8}",
            "restored:", saved0, saved1,
            "command after:", "0006",
        }));
    }

    [Test]
    public void Flr_script_shows_command_and_bar_cleared_and_max_payload_size_kept()
    {
        var pcie = Nvme0.Capabilities.Pcie;
        Assert.That(pcie.Flr, "nvme0 advertises FLR in the model");
        var fw = FirmwareBar0();
        var lines = RunScript("flr.pcv");
        Assert.That(lines[0], Is.EqualTo("device capabilities:"));
        uint devCap = Convert.ToUInt32(lines[1], 16);
        Assert.That((devCap >> 28) & 1, Is.EqualTo(1u), "Function Level Reset Capability");
        Assert.That(devCap & 7, Is.EqualTo((uint)pcie.MaxPayloadEncoding), "Max_Payload_Size Supported");

        // Device Control reset value (§7.5.3.4): Enable Relaxed Ordering 1, Enable No Snoop 1,
        // Max_Read_Request_Size 010b (512 bytes); everything else 0.
        const uint devCtlReset = 1 << 4 | 1 << 11 | 2 << 12;
        const uint mps256 = 1 << 5;
        Assert.That(lines[2..], Is.EqualTo(new[]
        {
            "before FLR (command, BAR0, device control):",
            "0006", $"{(uint)fw.Base | 4:x8}", $"{devCtlReset | mps256 | 0xF:x4}",
            "after FLR (command, BAR0, device control):",
            // §6.6.2: Command back to 0 (no decoding, no bus mastering), BAR0 to its reset value,
            // error reporting enables cleared; Max_Payload_Size kept; Initiate FLR reads 0.
            "0000", "00000004", $"{devCtlReset | mps256:x4}",
        }));
    }

    [Test]
    public void Scripts_are_commented_and_use_only_shell_commands()
    {
        foreach (var name in new[] { "bar-sizing.pcv", "flr.pcv" })
        {
            var lines = File.ReadAllLines(Pcievirt.Script(name));
            Assert.That(lines.Count(l => l.TrimStart().StartsWith('#')), Is.GreaterThan(5), name);
            foreach (var l in lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
                Assert.That(l.Split(' ')[0], Is.AnyOf("setpci", "lspci", "echo"), $"{name}: {l}");
        }
    }
}
