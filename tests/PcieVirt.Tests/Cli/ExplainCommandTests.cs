using System.Globalization;
using System.Text.RegularExpressions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Cli;

/// <summary>
/// <c>pcievirt explain</c> on the default model. Expected values come from independent reads (setpci) and the
/// model; expected access types come from the PCIe Base Spec's field definitions, not from our output.
/// </summary>
[TestFixture]
public class ExplainCommandTests
{
    static readonly FunctionModel Raid = PlatformModel.LoadDefault().Hosts[0].AllFunctions().Single(f => f.Name == "raid0");
    const string Pf = "01:00.0";

    static CliResult Ok(params string[] args)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        return r;
    }

    static uint Setpci(string reg) =>
        uint.Parse(Ok("setpci", "-s", Pf, reg).Out.Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>The field line for <paramref name="name"/>: "[bits] Name = value   ACCESS…".</summary>
    static string FieldLine(string output, string name)
    {
        var m = Regex.Match(output, @"^  \[[0-9:]+\]\s+" + Regex.Escape(name) + @" = .*$", RegexOptions.Multiline);
        Assert.That(m.Success, Is.True, $"no field line for {name} in:\n{output}");
        return m.Value;
    }

    static void AssertField(string output, string name, string value, string access)
    {
        var line = FieldLine(output, name);
        Assert.That(line, Does.Match(@" = " + Regex.Escape(value) + @"(\s\(.*\))?\s{3}" + Regex.Escape(access) + @"(\s|$)"), line);
    }

    [Test]
    public void Command_register_fields_carry_the_values_setpci_reads_and_the_spec_access_types()
    {
        uint cmd = Setpci("COMMAND.W");
        var o = Ok("explain", Pf, "COMMAND").Out;
        Assert.That(o, Does.Contain("§7.5.1.1.3"));
        AssertField(o, "Memory Space Enable", ((cmd >> 1) & 1).ToString(CultureInfo.InvariantCulture), "RW");
        AssertField(o, "Bus Master Enable", ((cmd >> 2) & 1).ToString(CultureInfo.InvariantCulture), "RW");
        AssertField(o, "SERR# Enable", ((cmd >> 8) & 1).ToString(CultureInfo.InvariantCulture), "RW");
        // Conventional-PCI-only bits are hardwired 0 in PCIe (§7.5.1.1.3).
        foreach (var name in new[] { "Special Cycle Enable", "Memory Write and Invalidate", "VGA Palette Snoop", "Fast Back-to-Back Transactions Enable" })
            AssertField(o, name, "0", "RO");
        // The RAID PF has memory BARs only: I/O Space Enable may be hardwired 0, and explain says the spec calls it RW.
        Assert.That(Raid.Bars.Any(b => b.Kind == PcieVirt.Pci.Functions.BarKind.Io), Is.False);
        Assert.That(FieldLine(o, "I/O Space Enable"), Does.Contain("= 0   RO (spec: RW;"));
        Assert.That(Ok("explain", Pf, "0x04").Out, Is.EqualTo(o), "an offset names the same register");
    }

    [Test]
    public void Action_bits_are_shown_as_actions_only_where_the_function_implements_them()
    {
        // Retrain Link exists in downstream ports (Root Ports) and is reserved in endpoints (§7.5.3.7).
        Assert.That(FieldLine(Ok("explain", "00:01.0", "LNKCTL").Out, "Retrain Link"), Does.Contain("= 0   RW (a write of 1 starts the action"));
        Assert.That(FieldLine(Ok("explain", Pf, "LNKCTL").Out, "Retrain Link"), Does.Contain("= 0   RO (spec: RW;"));
        // Initiate FLR needs Function Level Reset Capability (§7.5.3.3-4), which a Root Port does not have.
        uint rpDevcap = uint.Parse(Ok("setpci", "-s", "00:01.0", "CAP_EXP+4.L").Out.Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.That((rpDevcap >> 28) & 1, Is.Zero);
        Assert.That(FieldLine(Ok("explain", "00:01.0", "DEVCTL").Out, "Initiate Function Level Reset / Bridge Configuration Retry Enable"), Does.Contain("= 0   RO (spec: RW;"));
    }

    [Test]
    public void Status_error_bits_are_RW1C_and_Capabilities_List_is_set()
    {
        var o = Ok("explain", Pf, "STATUS").Out;
        AssertField(o, "Capabilities List", "1", "RO");
        foreach (var name in new[] { "Master Data Parity Error", "Signaled Target Abort", "Received Target Abort", "Received Master Abort", "Signaled System Error", "Detected Parity Error" })
            AssertField(o, name, "0", "RW1C");
    }

    [Test]
    public void PCIe_capability_decodes_device_control_and_marks_Initiate_FLR_as_an_action()
    {
        uint devctl = Setpci("CAP_EXP+8.W"), devcap = Setpci("CAP_EXP+4.L");
        var o = Ok("explain", Pf, "exp").Out;
        Assert.That(o, Does.Contain("Device Control [DEVCTL]").And.Contain("§7.5.3.4"));
        int mps = 128 << (int)((devctl >> 5) & 7), mrrs = 128 << (int)((devctl >> 12) & 7);
        Assert.That(FieldLine(o, "Max_Payload_Size"), Does.Contain($"({(mps >= 1024 ? $"{mps / 1024} KiB" : $"{mps} bytes")})   RW"));
        Assert.That(FieldLine(o, "Max_Read_Request_Size"), Does.Contain($"({(mrrs >= 1024 ? $"{mrrs / 1024} KiB" : $"{mrrs} bytes")})   RW"));
        // PFs of an SR-IOV device must support FLR (§7.5.3.3); Initiate FLR always reads 0.
        Assert.That((devcap >> 28) & 1, Is.EqualTo(1u));
        AssertField(o, "Function Level Reset Capability", "1", "RO");
        Assert.That(FieldLine(o, "Initiate Function Level Reset / Bridge Configuration Retry Enable"), Does.Contain("= 0   RW (a write of 1 starts the action"));
        // Link Status fields are set by the link, read-only to software (§7.5.3.8).
        AssertField(o, "Negotiated Link Width", $"0x{(Setpci("CAP_EXP+12.W") >> 4) & 0x3F:x}", "RO");
        Assert.That(Ok("explain", Pf, "CAP_EXP").Out, Is.EqualTo(o));
        Assert.That(Ok("explain", Pf, "cap10").Out, Is.EqualTo(o));
        Assert.That(Ok("explain", Pf, "pcie").Out, Is.EqualTo(o));
    }

    [TestCase("CAP_EXP+8", "Device Control [DEVCTL]")]
    [TestCase("exp+0x8", "Device Control [DEVCTL]")]
    [TestCase("CAP_EXP+9", "Device Control [DEVCTL]")]
    [TestCase("ECAP_SRIOV+10", "NumVFs [NUM_VFS]")]
    [TestCase("ECAP0010+24", "VF BAR0 [VF_BAR0]")]
    [TestCase("aer+4", "Uncorrectable Error Status [UESTA]")]
    public void A_capability_and_offset_name_the_register_there(string what, string header)
    {
        var o = Ok("explain", Pf, what).Out;
        Assert.That(o, Does.Contain(header));
        Assert.That(Regex.Matches(o, @"^\S.*PCIe Base Spec", RegexOptions.Multiline), Has.Count.EqualTo(1), "exactly one register");
    }

    [Test]
    public void PF_summary_shows_where_its_VFs_are()
    {
        var s = Pcievirt.Shell([], $"sriov {Pf} numvfs=3", $"explain {Pf}");
        Assert.That(s.ExitCode, Is.EqualTo(0), s.ToString);
        var lspci = Pcievirt.Shell([], $"sriov {Pf} numvfs=3", "lspci -s 01:").Out;
        var vfs = lspci.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains(" IOV ")).Select(l => l[..7]).ToList();
        Assert.That(vfs, Has.Count.EqualTo(3));
        Assert.That(s.Out, Does.Contain($"NumVFs 3, VF Enable 1"));
        Assert.That(s.Out, Does.Contain($"VFs at {vfs[0]} (VF 1) .. {vfs[2]} (VF 3)"));
    }

    [Test]
    public void SRIOV_capability_shows_TotalVFs_from_the_model_and_NumVFs_writable_only_while_VFs_are_disabled()
    {
        var o = Ok("explain", Pf, "sriov").Out;
        AssertField(o, "TotalVFs", $"0x{Raid.Capabilities.Sriov!.TotalVfs:x}", "HwInit");
        AssertField(o, "NumVFs", "0x0", "RW");
        AssertField(o, "VF Enable", "0", "RW");
        Assert.That(Ok("explain", Pf, "ECAP_SRIOV").Out, Is.EqualTo(o));
        Assert.That(Ok("explain", Pf, "ECAP0010").Out, Is.EqualTo(o));

        var s = Pcievirt.Shell([], $"sriov {Pf} numvfs=2", $"explain {Pf} NUM_VFS");
        Assert.That(s.ExitCode, Is.EqualTo(0), s.ToString);
        // NumVFs may not change while VF Enable is set (§9.3.3.7): our model locks it, and explain says so.
        Assert.That(FieldLine(s.Out, "NumVFs"), Does.Contain("= 0x2   RO (spec: RW;"));
    }

    [TestCase(1)]
    [TestCase(4)]
    public void VF_placement_shows_the_routing_and_BAR_arithmetic_with_the_numbers(int n)
    {
        const int numVfs = 4;
        var s = Pcievirt.Shell([], $"sriov {Pf} numvfs={numVfs}",
            "setpci -s 01:00.0 ECAP_SRIOV+14.W ECAP_SRIOV+16.W ECAP_SRIOV+24.L ECAP_SRIOV+28.L");
        Assert.That(s.ExitCode, Is.EqualTo(0), s.ToString);
        var regs = s.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^4..]
            .Select(x => ulong.Parse(x, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
        ulong offset = regs[0], stride = regs[1];
        ulong vfBar0 = (regs[2] & ~0xFUL) | regs[3] << 32;
        // Routing ID = PF RID + First VF Offset + (n-1) × VF Stride (§9.3.3.9-10); the PF is 01:00.0 = 0x0100.
        int rid = (int)(0x0100 + offset + (ulong)(n - 1) * stride);
        string vf = $"{rid >> 8:x2}:{(rid >> 3) & 0x1F:x2}.{rid & 7}";
        // Per-VF size = max(declared VF BAR0 size, System Page Size = 4 KiB at reset) (§9.3.3.13-14).
        ulong size = Math.Max(Raid.Capabilities.Sriov!.VfBars.Single(b => b.Index == 0).Size, 4096UL);
        ulong bar = vfBar0 + (ulong)(n - 1) * size;

        var e = Pcievirt.Shell([], $"sriov {Pf} numvfs={numVfs}", $"explain {vf}");
        Assert.That(e.ExitCode, Is.EqualTo(0), e.ToString);
        Assert.That(e.Out, Does.Contain($"VF placement: VF {n} of PF {Pf}"));
        Assert.That(e.Out, Does.Contain($"= 0x0100 + {offset} + ({n}-1) × {stride} = 0x{rid:x4} = {vf}\n"));
        Assert.That(e.Out, Does.Contain($"= 0x{vfBar0:x} + ({n}-1) × 0x{size:x} = 0x{bar:x} .. 0x{bar + size - 1:x}\n"));
        // The same address is where the VF's BAR is reported as decoding.
        Assert.That(e.Out, Does.Contain($"BAR0: Memory64, {size:#,0} bytes at 0x{bar:x}\n"));
    }

    [Test]
    public void VF_header_fields_use_the_VF_columns_of_the_spec()
    {
        var s = Pcievirt.Shell([], $"sriov {Pf} numvfs=1", "explain 01:00.1 COMMAND", "explain 01:00.1 VENDOR_ID");
        Assert.That(s.ExitCode, Is.EqualTo(0), s.ToString);
        // In a VF only Bus Master Enable is its own; Memory Space Enable is hardwired 0 (VF MSE in the PF applies) (§7.5.1.1.3).
        AssertField(s.Out, "Bus Master Enable", "0", "RW");
        AssertField(s.Out, "Memory Space Enable", "0", "RO");
        AssertField(s.Out, "Parity Error Response", "0", "RsvdP");
        AssertField(s.Out, "Vendor ID", "0xffff", "RO");
    }

    [Test]
    public void Type1_header_registers_of_a_root_port()
    {
        var o = Ok("explain", "00:01.0", "SECONDARY_BUS").Out;
        // The RAID PF at 01:00.0 sits right below root port 00:01.0, so firmware gave it secondary bus 1.
        AssertField(o, "Secondary Bus Number", "0x1", "RW");
        var bc = Ok("explain", "00:01.0", "BRIDGE_CONTROL").Out;
        AssertField(bc, "Secondary Bus Reset", "0", "RW");
        AssertField(bc, "Master Abort Mode", "0", "RO");
        Assert.That(bc, Does.Contain("§7.5.1.3.13"));
    }

    [Test]
    public void Summary_lists_the_capabilities_with_their_offsets()
    {
        var o = Ok("explain", Pf).Out;
        // Walk the legacy list as software does (§7.5.2) and check each offset is listed with its ID.
        for (uint p = Setpci("CAPABILITIES.B"); p != 0; p = Setpci($"{p:x}.W") >> 8 & 0xFC)
        {
            uint id = Setpci($"{p:x}.B");
            Assert.That(o, Does.Contain($"0x{p:x3}  CAP 0x{id:x2}"));
        }
        Assert.That(o, Does.Contain("ECAP 0x0010  Single Root I/O Virtualization"));
    }

    [Test]
    public void Bridge_summary_shows_the_bus_range_lspci_shows_in_the_tree()
    {
        // lspci -tv draws root port 00:02.0 as "02.0-[02-09]": secondary 02, subordinate 09.
        Assert.That(Ok("lspci", "-tv").Out, Does.Contain("+-02.0-[02-09]--"));
        var o = Ok("explain", "00:02.0").Out;
        Assert.That(o, Does.Contain("Type 1 header"));
        Assert.That(o, Does.Contain("Buses: primary 00, secondary 02, subordinate 09"));
    }

    [Test]
    public void Explain_takes_a_model_file()
    {
        var r = Ok("--model", Pcievirt.Fabric4x8, "explain", "01:00.0", "PRIMARY_BUS");
        // The switch upstream port below root port 00:01.0 sits on bus 01, so its primary bus is 01.
        AssertField(r.Out, "Primary Bus Number", "0x1", "RW");
    }

    [TestCase(new[] { "explain", "09:1f.7" }, 1, "no function at 0000:09:1f.7")]
    [TestCase(new[] { "explain", "zz" }, 2, "is not a function address")]
    [TestCase(new[] { "explain", Pf, "FOO" }, 2, "unknown register or capability 'FOO'")]
    [TestCase(new[] { "explain", Pf, "BRIDGE_CONTROL" }, 1, "BRIDGE_CONTROL is not a register of a Type 0 header")]
    [TestCase(new[] { "explain", "00:01.0", "sriov" }, 1, "has no Single Root I/O Virtualization capability")]
    [TestCase(new[] { "explain", Pf, "0x1000" }, 2, "outside the 4 KiB configuration space")]
    [TestCase(new[] { "explain", Pf, "RTSTA" }, 1, "has no RTSTA register")]
    [TestCase(new[] { "explain" }, 2, "usage: explain BDF")]
    [TestCase(new[] { "explain", Pf, "CAP_EXP+zz" }, 2, "is not a hex offset")]
    [TestCase(new[] { "explain", Pf, "nope+4" }, 2, "unknown capability 'nope'")]
    [TestCase(new[] { "explain", Pf, "msix+40" }, 1, "beyond the MSI-X capability")]
    [TestCase(new[] { "explain", Pf, "exp+0" }, 1, "no explained register covers PCI Express +0x0")]
    public void Bad_input_gets_a_clear_error_and_exit_code(string[] args, int code, string message)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(code), r.ToString);
        Assert.That(r.Err, Does.Contain(message));
        Assert.That(r.Out, Is.Empty);
    }

    [Test]
    public void Shell_lists_explain_in_help_and_explains_msix()
    {
        var r = Pcievirt.Shell([], "help", $"explain {Pf} msix");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        Assert.That(r.Out, Does.Contain("explain BDF [REGISTER|CAPABILITY]"));
        AssertField(r.Out, "MSI-X Enable", ((Setpci("CAP_MSIX+2.W") >> 15) & 1).ToString(CultureInfo.InvariantCulture), "RW");
        Assert.That(FieldLine(r.Out, "Table Size"), Does.Contain($"({(Setpci("CAP_MSIX+2.W") & 0x7FF) + 1} entries)   RO"));
    }
}
