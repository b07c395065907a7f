using System.Text.RegularExpressions;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Cli;

/// <summary>
/// pcievirt as a user drives it: demo, lspci selection, setpci reads and writes, the shell, model
/// errors and the TLP trace. Register values are checked against the model and the PCIe spec;
/// output formats are checked against the real tools in <see cref="LspciRealInteropTests"/> and
/// <see cref="SetpciRealInteropTests"/>.
/// </summary>
[TestFixture]
public partial class CliBehaviourTests
{
    static readonly HostModel Default = PlatformModel.LoadDefault().Hosts[0];

    static CliResult Ok(params string[] args)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        return r;
    }

    static string[] SlotsOf(string lspciTerse) =>
        [.. lspciTerse.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..l.IndexOf(' ')])];

    // ---- demo ----

    [Test]
    public void Demo_exits_0_and_shows_enumeration_tree_and_decoded_view()
    {
        var demo = Ok("demo");
        // Every function the model implies: root and switch downstream ports, switch upstream ports,
        // and the functions of all endpoints (integrated ones included).
        int functions = Default.AllPorts().Count() + Default.AllSwitches().Count() + Default.AllFunctions().Count();
        int lastBus = Default.RootBus + Default.RootPorts.Sum(p => p.BusNumbersNeeded());
        Assert.That(demo.Out, Does.Contain($"{functions} functions found; buses 00..{lastBus:x2} assigned depth first; 0 failures"));
        Assert.That(demo.Out, Does.Contain("== 2. The tree, as `lspci -tv` prints it\n" + Ok("lspci", "-tv").Out));
        Assert.That(demo.Out, Does.Contain("== 3. Every function, as `lspci -nn` prints it\n" + Ok("lspci", "-nn").Out));
        // The richest endpoint is the RAID PF (most capabilities in the model), below root port 00:01.0.
        Assert.That(demo.Out, Does.Contain(Ok("lspci", "-vvv", "-s", "01:00.0").Out));
        Assert.That(demo.Out, Does.Contain(Ok("setpci", "-v", "-s", "01:00.0", "COMMAND.W", "BASE_ADDRESS_0.L", "CAP_EXP+8.W").Out));
        Assert.That(demo.Err, Is.Empty);
    }

    // ---- lspci ----

    [TestCase("05:00", new[] { "05:00.0", "05:00.1" })]
    [TestCase("05:00.1", new[] { "05:00.1" })]
    [TestCase(".1", new[] { "05:00.1" })]
    [TestCase("03:", new[] { "03:08.0", "03:09.0", "03:0a.0", "03:0b.0" })]
    [TestCase("0000:00:02.0", new[] { "00:02.0" })]
    [TestCase("1f:", new string[0])]
    public void Lspci_s_selects_functions(string selector, string[] expected)
    {
        var r = Ok("lspci", "-s", selector);
        Assert.That(SlotsOf(r.Out), Is.EqualTo(expected));
    }

    [Test]
    public void Lspci_d_selects_by_vendor_and_class()
    {
        Assert.That(SlotsOf(Ok("lspci", "-d", "144d:").Out), Is.EqualTo(new[] { "04:00.0", "07:00.0" }), "Samsung NVMe drives");
        Assert.That(SlotsOf(Ok("lspci", "-d", "::0604").Out), Has.Length.EqualTo(Default.AllPorts().Count() + Default.AllSwitches().Count()), "every PCI-to-PCI bridge");
    }

    [Test]
    public void Lspci_bad_selector_is_a_usage_error()
    {
        var r = Pcievirt.Run("lspci", "-s", "zz:00.0");
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Err, Is.EqualTo("lspci: -s: Invalid bus number\n"));
    }

    // ---- setpci ----

    [Test]
    public void Setpci_reads_print_zero_padded_hex_per_width_and_verbose_form()
    {
        var raid = Default.AllFunctions().Single(f => f.Name == "raid0").Identity;
        Assert.That(Ok("setpci", "-s", "01:00.0", "VENDOR_ID", "DEVICE_ID", "REVISION").Out,
            Is.EqualTo($"{raid.VendorId:x4}\n{raid.DeviceId:x4}\n{raid.RevisionId:x2}\n"));
        Assert.That(Ok("setpci", "-s", "01:00.0", "0.l").Out, Is.EqualTo($"{raid.DeviceId:x4}{raid.VendorId:x4}\n"));
        Assert.That(Ok("setpci", "-v", "-s", "01:00.0", "VENDOR_ID").Out, Is.EqualTo($"0000:01:00.0 @00 = {raid.VendorId:x4}\n"));
        // The PCI Express capability's first word: Capability ID 10h, then the next pointer (§7.5.3.1).
        Assert.That(Ok("setpci", "-s", "01:00.0", "CAP_EXP.B").Out, Is.EqualTo("10\n"));
    }

    [Test]
    public void Setpci_value_mask_changes_only_masked_bits()
    {
        var r = Pcievirt.Shell([],
            "setpci -s 04:00.0 CAP_MSI+4.L=ffffffff",          // MSI Message Address: bits 31:2 writable (§7.7.1.2)
            "setpci -s 04:00.0 CAP_MSI+4.L",
            "setpci -s 04:00.0 CAP_MSI+4.L=12345678:0000ffff",
            "setpci -s 04:00.0 CAP_MSI+4.L",
            "setpci -s 04:00.0 COMMAND.W=0100:0100",             // SERR# Enable only
            "setpci -s 04:00.0 COMMAND.W");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        // Firmware enabled Memory Space and Bus Master on nvme0 (a memory BAR, a bus master).
        Assert.That(r.Out, Is.EqualTo("fffffffc\nffff5678\n0106\n"));
    }

    [Test]
    public void Setpci_write_to_read_only_registers_leaves_them_unchanged()
    {
        var raid = Default.AllFunctions().Single(f => f.Name == "raid0").Identity;
        var r = Pcievirt.Shell([],
            "setpci -s 01:00.0 VENDOR_ID=1234 DEVICE_ID=5678 CLASS_DEVICE=0200 HEADER_TYPE=ff",
            "setpci -s 01:00.0 VENDOR_ID DEVICE_ID CLASS_DEVICE HEADER_TYPE");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        Assert.That(r.Out, Is.EqualTo($"{raid.VendorId:x4}\n{raid.DeviceId:x4}\n{raid.ClassCode >> 8:x4}\n00\n"));
    }

    [Test]
    public void Setpci_on_a_nonexistent_function_warns_as_real_setpci_and_sends_no_request()
    {
        // The first bus past every bus the model needs: nothing answers there.
        int bus = Default.RootBus + Default.RootPorts.Sum(p => p.BusNumbersNeeded()) + 1;
        var r = Pcievirt.Run("--trace", "setpci", "-s", $"{bus:x2}:00.0", "VENDOR_ID");
        Assert.That(r.ExitCode, Is.EqualTo(0));
        Assert.That(r.Out, Is.Empty);
        var err = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(err[^1], Is.EqualTo("setpci: Warning: No devices selected for operation group 1."));
        Assert.That(err.Any(l => l.Contains($"target={bus:x2}:00.0", StringComparison.Ordinal)), Is.False);
    }

    // ---- shell ----

    static readonly string[] StatefulScript =
    [
        "# a comment line",
        "",
        "   ",
        "setpci -s 04:00.0 COMMAND.W=0000   # memory decoding off",
        "setpci -s 04:00.0 COMMAND.W",
        "lspci -s 04:00.0 -vv",
        "setpci -s 04:00.0 COMMAND.W=0006",
        "setpci -s 04:00.0 COMMAND.W",
    ];

    static void AssertStatefulScriptOutput(CliResult r)
    {
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        Assert.That(r.Err, Is.Empty);
        Assert.That(r.Out, Does.StartWith("0000\n04:00.0 "));
        Assert.That(r.Out, Does.Contain("\tControl: I/O- Mem- BusMaster- "), "lspci on the next line sees the write");
        Assert.That(r.Out, Does.Contain(" [disabled]"), "the BAR is shown disabled with Memory Space off");
        Assert.That(r.Out, Does.EndWith("\n0006\n"));
    }

    [Test]
    public void Shell_runs_a_script_from_stdin_with_state_across_lines()
    {
        AssertStatefulScriptOutput(Pcievirt.Shell([], StatefulScript));
        AssertStatefulScriptOutput(Pcievirt.RunWithInput(string.Join('\n', StatefulScript) + "\n", "shell", "-"));
    }

    [Test]
    public void Shell_runs_a_script_from_a_file()
    {
        var file = Path.Combine(Path.GetTempPath(), $"pcievirt-e2e-{Environment.ProcessId}.pcv");
        try
        {
            File.WriteAllLines(file, StatefulScript);
            AssertStatefulScriptOutput(Pcievirt.Run("shell", file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Shell_enumerate_reruns_firmware_after_software_moved_buses_and_bars()
    {
        var before = Ok("lspci", "-t").Out;
        var bar0 = Ok("setpci", "-s", "04:00.0", "BASE_ADDRESS_0").Out;
        var r = Pcievirt.Shell([],
            "setpci -s 00:02.0 SECONDARY_BUS=20 SUBORDINATE_BUS=28",   // the switch now sits on bus 20
            "setpci -s 04:00.0 BASE_ADDRESS_0=0",
            "setpci -s 20:00.0 VENDOR_ID",
            "lspci -s 04:00.0",                                          // bus 04 is no longer routed
            "enumerate",
            "setpci -s 04:00.0 BASE_ADDRESS_0",
            "lspci -t");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        var sw = Default.AllSwitches().Single().Identity;
        Assert.That(r.Out, Does.StartWith($"{sw.VendorId:x4}\nhost0: "));
        Assert.That(r.Out, Does.EndWith(bar0 + before), "a fresh enumeration gives the original BAR and tree");
    }

    [Test]
    public void Shell_unknown_command_stops_with_line_number_and_non_zero_status()
    {
        var r = Pcievirt.Shell([], "# first", "setpci -s 01:00.0 VENDOR_ID", "", "frobnicate 01:00.0", "setpci -s 01:00.0 DEVICE_ID");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Out, Is.EqualTo("1000\n"), "the line after the failing one does not run");
        Assert.That(r.Err, Does.Contain("unknown command 'frobnicate'"));
        Assert.That(r.Err, Does.Contain("<stdin>:4:"));
    }

    [Test]
    public void Shell_failing_tool_line_is_reported_with_its_line_number()
    {
        var r = Pcievirt.Shell([], "setpci -s 01:00.0 NO_SUCH_REG");
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Err, Is.EqualTo("setpci: Unknown register \"NO_SUCH_REG\".\nTry `setpci --help' for more information.\n<stdin>:1: 'setpci' exited with status 1\n"));
    }

    [Test]
    public void Shell_unterminated_quote_is_an_error_with_line_number()
    {
        var r = Pcievirt.Shell([], "echo ok", "echo 'oops");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Out, Is.EqualTo("ok\n"));
        Assert.That(r.Err, Does.Contain("<stdin>:2:").And.Contain("unterminated"));
    }

    [Test]
    public void Shell_missing_script_file_is_an_error()
    {
        var r = Pcievirt.Run("shell", "/nonexistent/script.pcv");
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("/nonexistent/script.pcv").And.Contain("not found"));
    }

    // ---- command line ----

    [Test]
    public void No_command_prints_usage_and_fails_unknown_command_fails()
    {
        var none = Pcievirt.Run();
        Assert.That(none.ExitCode, Is.EqualTo(2));
        Assert.That(none.Out, Does.StartWith("usage: pcievirt COMMAND"));
        var unknown = Pcievirt.Run("frobnicate");
        Assert.That(unknown.ExitCode, Is.EqualTo(2));
        Assert.That(unknown.Err, Does.StartWith("pcievirt: unknown command 'frobnicate'"));
        Assert.That(Pcievirt.Run("lspci", "--model").ExitCode, Is.EqualTo(2), "--model without a file");
    }

    // ---- models ----

    static void AssertCleanFailure(CliResult r)
    {
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString);
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(r.Err, Does.Not.Contain("Exception"));
    }

    [Test]
    public void Model_file_missing_is_exit_1_with_a_message()
    {
        var r = Pcievirt.Run("--model", "/nonexistent/model.json", "lspci");
        AssertCleanFailure(r);
        Assert.That(r.Err, Is.EqualTo("pcievirt: model file '/nonexistent/model.json' not found\n"));
        var dir = Pcievirt.Run("--model", Path.GetTempPath(), "lspci");
        AssertCleanFailure(dir);
        Assert.That(dir.Err, Does.Contain("is a directory"));
    }

    [Test]
    public void Malformed_json_is_exit_1_with_position()
    {
        var file = TempModel("""
            {
              "name": "broken",
              "hosts": [ { "name": "h0", ]
            }
            """);
        try
        {
            var r = Pcievirt.Run("--model", file, "lspci");
            AssertCleanFailure(r);
            Assert.That(r.Err, Does.Match($@"(?m)^  {Regex.Escape(file)}:3:\d+: \$.*malformed JSON"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Model_with_several_errors_prints_each_with_json_path_and_line_column()
    {
        var text = """
            {
              "name": "several",
              "hosts": [
                {
                  "name": "host0",
                  "ecam": { "base": "0xE000_0000" },
                  "apertures": { "mmio32": { "base": "0xC000_0000", "size": "512M" } },
                  "ramSize": "2G",
                  "rootPorts": [
                    { "device": 1, "link": { "gen": 9, "width": "x4" },
                      "downstream": { "type": "endpoint", "functions": [
                        { "function": 0, "name": "ep", "identity": { "vendorId": "0xffff", "deviceId": 1, "classCode": 0 },
                          "bars": [ { "index": 0, "kind": "mem32", "size": "12K" } ], "colour": "red" } ] } }
                  ]
                }
              ]
            }
            """;
        var file = TempModel(text);
        try
        {
            var r = Pcievirt.Run("--model", file, "lspci");
            AssertCleanFailure(r);
            // Each error points at the property that carries the bad value.
            const string ep = "$.hosts[0].rootPorts[0].downstream.functions[0]";
            string[] expected =
            [
                $"{At(text, "\"gen\"")}: $.hosts[0].rootPorts[0].link.gen: 9 ",
                $"{At(text, "\"vendorId\"")}: {ep}.identity.vendorId: 0xffff ",
                $"{At(text, "\"size\": \"12K\"")}: {ep}.bars[0].size: 12K ",
                $"{At(text, "\"colour\"")}: {ep}.colour: ",
            ];
            Assert.That(r.Err, Does.Contain("pcievirt: the model has 4 error(s):"));
            foreach (var e in expected)
                Assert.That(r.Err, Does.Contain($"  {file}:{e}"), e);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>1-based line:column of the first occurrence of <paramref name="token"/> in <paramref name="text"/>.</summary>
    static string At(string text, string token)
    {
        int i = text.IndexOf(token, StringComparison.Ordinal);
        int line = text[..i].Count(c => c == '\n') + 1;
        int col = i - (text.LastIndexOf('\n', i - 1) + 1) + 1;
        return $"{line}:{col}";
    }

    static string TempModel(string text)
    {
        var file = Path.Combine(Path.GetTempPath(), $"pcievirt-e2e-model-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, text);
        return file;
    }

    // ---- --trace ----

    [GeneratedRegex(@"^trce PcieVirt\.Fabric\.Tlp: (CfgRd[01]|CfgWr[01]) requester=([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) target=([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) register=0x([0-9a-f]{3}) be=0x([0-9a-f]) data=0x([0-9a-f]{8}) status=(SC|UR|CRS|CA)$")]
    private static partial Regex ConfigTlpLine();

    static List<Match> Tlps(string stderr) =>
        [.. stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("CfgRd", StringComparison.Ordinal) || l.Contains("CfgWr", StringComparison.Ordinal)).Select(l => ConfigTlpLine().Match(l))];

    [Test]
    public void Trace_prints_one_line_per_config_tlp_with_requester_target_register_byte_enables_data_status()
    {
        var baseline = Pcievirt.Run("--trace", "setpci", "-s", "01:00.0", "COMMAND.W");
        var r = Pcievirt.Run("--trace", "setpci", "-s", "01:00.0", "COMMAND.W", "COMMAND.W=0546", "INTERRUPT_PIN", "CAP_EXP+a.W");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString);
        Assert.That(r.Out, Is.EqualTo("0006\n01\n0000\n"));
        var all = Tlps(r.Err);
        Assert.That(all, Is.Not.Empty);
        Assert.That(all.All(m => m.Success), "every config TLP line has the documented format");
        Assert.That(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).All(l => l.StartsWith("trce ", StringComparison.Ordinal)
            || l.StartsWith("info ", StringComparison.Ordinal)), "nothing else on stderr");

        // Boot (enumeration) is traced too; the setpci requests follow it. The baseline run has the
        // same boot and one read of COMMAND.
        var ours = all.Skip(Tlps(baseline.Err).Count - 1).Select(m => m.Value["trce PcieVirt.Fabric.Tlp: ".Length..]).ToList();
        // Bus 01 is not the root bus, so the root complex issues Type 1 requests (§7.3.3). Register is
        // the dword, byte enables select the lanes, data sits in its lanes (§2.2.7): Command in lanes
        // 0-1, Header Type in lane 2, Interrupt Pin (INTA# = 1) in lane 1 of dword 0x3c.
        Assert.That(ours.Take(4), Is.EqualTo(new[]
        {
            "CfgRd1 requester=00:00.0 target=01:00.0 register=0x004 be=0x3 data=0x00000006 status=SC",
            "CfgWr1 requester=00:00.0 target=01:00.0 register=0x004 be=0x3 data=0x00000546 status=SC",
            "CfgRd1 requester=00:00.0 target=01:00.0 register=0x00c be=0x4 data=0x00000000 status=SC",
            "CfgRd1 requester=00:00.0 target=01:00.0 register=0x03c be=0x2 data=0x00000100 status=SC",
        }));
        // CAP_EXP+a.W walks the capability list (reads of each header), then reads Device Status:
        // the upper word of the dword at CAP_EXP+8, byte enables 1100b.
        int devsta = Convert.ToInt32(Regex.Match(Ok("setpci", "-v", "-s", "01:00.0", "CAP_EXP+a.W").Out, " @([0-9a-f]+) = ").Groups[1].Value, 16);
        Assert.That(devsta & 3, Is.EqualTo(2));
        Assert.That(ours[^1], Is.EqualTo($"CfgRd1 requester=00:00.0 target=01:00.0 register=0x{devsta & ~3:x3} be=0xc data=0x00000000 status=SC"));
    }

    [Test]
    public void Trace_shows_unsupported_requests_of_enumeration_probes()
    {
        var r = Pcievirt.Run("--trace", "lspci", "-s", "00:00.0");
        int unused = Enumerable.Range(0, 32).First(d => Default.RootPorts.All(p => p.Device != d) && Default.IntegratedEndpoints.All(e => e.Device != d));
        // Firmware probes the Vendor ID of a device number nothing answers at: the request completes
        // with Unsupported Request and the read returns all ones (§2.3.2, §7.5.1.1.1).
        Assert.That(r.Err, Does.Contain($"CfgRd0 requester=00:00.0 target=00:{unused:x2}.0 register=0x000 be=0xf data=0xffffffff status=UR\n"));
        Assert.That(Pcievirt.Run("lspci", "-s", "00:00.0").Err, Is.Empty, "without --trace nothing is logged");
    }
}
