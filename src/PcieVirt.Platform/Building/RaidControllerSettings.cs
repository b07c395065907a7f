using System.Text.Json;
using PcieVirt.Devices.Media;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Devices.Raid;
using PcieVirt.Devices.RaidController;
using PcieVirt.Platform.Model;

namespace PcieVirt.Platform.Building;

/// <summary>
/// Reads the <c>settings</c> object of a <c>"device": "raid-controller"</c> function (schema in
/// devicemodels/README.md). Every problem is reported with the JSON path of the offending member.
/// </summary>
internal static class RaidControllerSettings
{
    public const string DeviceKind = "raid-controller";
    const long MaxDriveBytes = 1L << 50; // 1 PiB: in-memory drives are sparse, but the directory is not free

    static readonly string[] Known = ["drives", "driveSize", "driveKind", "blockSize", "images", "classCode", "cacheSize", "seed", "processing", "volumes", "qos"];
    static readonly string[] KnownVolume = ["name", "level", "drives", "stripe", "spares", "attach"];
    static readonly string[] KnownQos = ["channels", "vfs"];
    static readonly string[] KnownQosVf = ["vf", "iops", "bw", "weight"];

    /// <summary>The controller configuration, or <paramref name="errors"/> naming each bad member.</summary>
    public static RaidControllerConfig? Parse(JsonElement? settings, string path, List<string> errors, string? baseDirectory = null)
    {
        string at = path + ".settings";
        int count = 0;
        long size = 1L << 30;
        bool sizeGiven = false;
        var kind = DriveKind.NvmeFlash;
        int blockSize = 512;
        bool nvmeClass = false, vwc = true;
        ulong seed = 0;
        string[]? images = null;
        var processing = PcieVirt.Devices.Nvme.NvmeProcessingMode.OnDoorbell;
        if (settings is { } s)
        {
            foreach (var p in s.EnumerateObject())
                if (Array.IndexOf(Known, p.Name) < 0)
                    errors.Add($"{at}.{p.Name}: unknown setting (known: {string.Join(", ", Known)})");
            if (s.TryGetProperty("drives", out var d))
            {
                if (Number(d, $"{at}.drives", errors) is { } n)
                {
                    if (n is < 1 or > 64) errors.Add($"{at}.drives: {n} drives; a controller has 1..64");
                    else count = (int)n;
                }
            }
            if (s.TryGetProperty("driveSize", out var ds) && Number(ds, $"{at}.driveSize", errors) is { } sz)
            {
                if (sz == 0 || sz > MaxDriveBytes) errors.Add($"{at}.driveSize: {sz} bytes; a drive holds 1 block to 1 PiB");
                else { size = (long)sz; sizeGiven = true; }
            }
            if (s.TryGetProperty("driveKind", out var dk))
            {
                switch (dk.ValueKind == JsonValueKind.String ? dk.GetString() : null)
                {
                    case "nand": kind = DriveKind.NvmeFlash; break;
                    case "optane": kind = DriveKind.Optane; break;
                    case "hdd": kind = DriveKind.Hdd; break;
                    default: errors.Add($"{at}.driveKind: expected \"nand\", \"optane\" or \"hdd\""); break;
                }
            }
            if (s.TryGetProperty("blockSize", out var bs) && Number(bs, $"{at}.blockSize", errors) is { } b)
            {
                if (b is not (512 or 4096)) errors.Add($"{at}.blockSize: {b}; drives have 512- or 4096-byte blocks");
                else blockSize = (int)b;
            }
            if (s.TryGetProperty("classCode", out var cc))
            {
                switch (cc.ValueKind == JsonValueKind.String ? cc.GetString() : null)
                {
                    case "raid": nvmeClass = false; break;
                    case "nvme": nvmeClass = true; break;
                    default: errors.Add($"{at}.classCode: expected \"raid\" (01 04 00) or \"nvme\" (01 08 02)"); break;
                }
            }
            if (s.TryGetProperty("processing", out var pr))
            {
                switch (pr.ValueKind == JsonValueKind.String ? pr.GetString() : null)
                {
                    case "doorbell": processing = PcieVirt.Devices.Nvme.NvmeProcessingMode.OnDoorbell; break;
                    case "explicit": processing = PcieVirt.Devices.Nvme.NvmeProcessingMode.Explicit; break;
                    default: errors.Add($"{at}.processing: expected \"doorbell\" or \"explicit\""); break;
                }
            }
            if (s.TryGetProperty("cacheSize", out var cs) && Number(cs, $"{at}.cacheSize", errors) is { } c) vwc = c != 0;
            if (s.TryGetProperty("seed", out var se) && Number(se, $"{at}.seed", errors) is { } sd) seed = sd;
            if (s.TryGetProperty("images", out var im))
            {
                if (im.ValueKind != JsonValueKind.Array) errors.Add($"{at}.images: expected an array of file paths");
                else
                {
                    images = new string[im.GetArrayLength()];
                    int i = 0;
                    foreach (var e in im.EnumerateArray())
                    {
                        if (e.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(e.GetString()))
                            errors.Add($"{at}.images[{i}]: expected a file path");
                        else images[i] = e.GetString()!;
                        i++;
                    }
                    if (count == 0) count = images.Length;
                    else if (images.Length != count) errors.Add($"{at}.images: {images.Length} images for {count} drives; give one per drive");
                }
            }
        }
        var volumes = settings is { } sv && sv.TryGetProperty("volumes", out var vl) ? Volumes(vl, $"{at}.volumes", count, errors) : [];
        var qos = settings is { } sq && sq.TryGetProperty("qos", out var ql) ? Qos(ql, $"{at}.qos", errors) : null;
        if (size % blockSize != 0) errors.Add($"{at}.driveSize: {size} bytes is not a multiple of the {blockSize}-byte block");
        if (errors.Count > 0) return null;
        var drives = new DriveSpec[count];
        for (int i = 0; i < count; i++)
            drives[i] = new DriveSpec
            {
                Name = $"d{i}",
                Kind = kind,
                BlockSize = blockSize,
                // An image file: the given size creates or checks it; without one the file's own size counts.
                CapacityBytes = images is null || sizeGiven ? size : 0,
                // A relative image path is relative to the model file, not to wherever the tool was started.
                ImagePath = images is null ? null : baseDirectory is null || Path.IsPathRooted(images[i]) ? images[i] : Path.Combine(baseDirectory, images[i]),
            };
        return new RaidControllerConfig
        {
            Drives = drives, NvmeClassCode = nvmeClass, VolatileWriteCache = vwc, Seed = seed, Processing = processing, Volumes = volumes, Qos = qos,
        };
    }

    /// <summary>
    /// <c>qos</c>: <c>{ "channels"?: N, "vfs"?: [{ "vf": n, "iops"?, "bw"?, "weight"? }] }</c>: the arbiter's
    /// back-end channels (default: one per drive) and the limits each VF starts with (0 = unlimited; bw in
    /// bytes per second, size strings allowed; weight 1..255). Its presence switches QoS on at power-on.
    /// </summary>
    static RaidControllerQosConfig? Qos(JsonElement q, string at, List<string> errors)
    {
        if (q.ValueKind != JsonValueKind.Object) { errors.Add($"{at}: expected an object with \"channels\" and \"vfs\""); return null; }
        foreach (var p in q.EnumerateObject())
            if (Array.IndexOf(KnownQos, p.Name) < 0) errors.Add($"{at}.{p.Name}: unknown QoS setting (known: {string.Join(", ", KnownQos)})");
        int channels = 0;
        if (q.TryGetProperty("channels", out var ch) && Number(ch, $"{at}.channels", errors) is { } c)
        {
            if (c is < 1 or > 1024) errors.Add($"{at}.channels: {c}; the back end serves 1..1024 commands at once");
            else channels = (int)c;
        }
        var vfs = new Dictionary<int, QosLimits>();
        if (q.TryGetProperty("vfs", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array) errors.Add($"{at}.vfs: expected an array of per-VF limits");
            else
            {
                int i = 0;
                foreach (var v in list.EnumerateArray())
                {
                    string vat = $"{at}.vfs[{i++}]";
                    if (v.ValueKind != JsonValueKind.Object) { errors.Add($"{vat}: expected an object"); continue; }
                    foreach (var p in v.EnumerateObject())
                        if (Array.IndexOf(KnownQosVf, p.Name) < 0) errors.Add($"{vat}.{p.Name}: unknown QoS setting (known: {string.Join(", ", KnownQosVf)})");
                    int vf = 0;
                    if (!v.TryGetProperty("vf", out var n) || n.ValueKind != JsonValueKind.Number || !n.TryGetInt32(out vf) || vf is < 1 or > 127)
                        errors.Add($"{vat}.vf: expected a VF number 1..127");
                    else if (vfs.ContainsKey(vf)) errors.Add($"{vat}.vf: VF {vf} is given limits twice");
                    ulong iops = 0, bw = 0;
                    int weight = 1;
                    if (v.TryGetProperty("iops", out var io) && Number(io, $"{vat}.iops", errors) is { } x)
                    {
                        if (x > uint.MaxValue) errors.Add($"{vat}.iops: {x}; at most {uint.MaxValue} (0 = unlimited)");
                        else iops = x;
                    }
                    if (v.TryGetProperty("bw", out var b) && Number(b, $"{vat}.bw", errors) is { } y)
                    {
                        if (y / 1024 > uint.MaxValue) errors.Add($"{vat}.bw: {y} bytes/s; at most 4T (0 = unlimited)");
                        else bw = y;
                    }
                    if (v.TryGetProperty("weight", out var w) && Number(w, $"{vat}.weight", errors) is { } z)
                    {
                        if (z is < 1 or > 255) errors.Add($"{vat}.weight: {z}; a weight is 1..255");
                        else weight = (int)z;
                    }
                    if (vf >= 1 && !vfs.ContainsKey(vf)) vfs[vf] = new QosLimits(iops, bw, weight);
                }
            }
        }
        return new RaidControllerQosConfig { Channels = channels, Vfs = vfs };
    }

    /// <summary>
    /// <c>volumes</c>: <c>[{ "name", "level": 0|1|5|6|10, "drives": [indices], "stripe"?, "spares"?: [indices],
    /// "attach"?: ["pf", VF numbers…] }]</c>. Whether the layout is possible (enough drives for the level,
    /// drives used once) is the engine's to say when the volume is created.
    /// </summary>
    static List<InitialVolume> Volumes(JsonElement list, string at, int driveCount, List<string> errors)
    {
        var result = new List<InitialVolume>();
        if (list.ValueKind != JsonValueKind.Array) { errors.Add($"{at}: expected an array of volumes"); return result; }
        int i = 0;
        foreach (var v in list.EnumerateArray())
        {
            string vat = $"{at}[{i++}]";
            if (v.ValueKind != JsonValueKind.Object) { errors.Add($"{vat}: expected an object"); continue; }
            foreach (var p in v.EnumerateObject())
                if (Array.IndexOf(KnownVolume, p.Name) < 0) errors.Add($"{vat}.{p.Name}: unknown volume setting (known: {string.Join(", ", KnownVolume)})");
            string? name = v.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (string.IsNullOrWhiteSpace(name)) errors.Add($"{vat}.name: a volume needs a name");
            RaidLevel? level = v.TryGetProperty("level", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out int lv)
                ? lv switch { 0 => RaidLevel.Raid0, 1 => RaidLevel.Raid1, 5 => RaidLevel.Raid5, 6 => RaidLevel.Raid6, 10 => RaidLevel.Raid10, _ => null }
                : null;
            if (level is null) errors.Add($"{vat}.level: expected 0, 1, 5, 6 or 10");
            var members = DriveList(v, "drives", vat, driveCount, errors, required: true);
            var spares = DriveList(v, "spares", vat, driveCount, errors, required: false);
            int stripe = 64 * 1024;
            if (v.TryGetProperty("stripe", out var st) && Number(st, $"{vat}.stripe", errors) is { } sb)
            {
                if (sb < 4096 || sb > (1UL << 24) || !System.Numerics.BitOperations.IsPow2(sb))
                    errors.Add($"{vat}.stripe: {sb} bytes; a stripe is a power of two from 4K to 16M");
                else stripe = (int)sb;
            }
            var attach = new List<int>();
            if (v.TryGetProperty("attach", out var a))
            {
                if (a.ValueKind != JsonValueKind.Array) errors.Add($"{vat}.attach: expected an array of \"pf\" and VF numbers");
                else
                {
                    int k = 0;
                    foreach (var t in a.EnumerateArray())
                    {
                        if (t.ValueKind == JsonValueKind.String && t.GetString() == "pf") attach.Add(0);
                        else if (t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out int vf) && vf >= 1) attach.Add(vf);
                        else errors.Add($"{vat}.attach[{k}]: expected \"pf\" or a VF number (1, 2, …)");
                        k++;
                    }
                }
            }
            if (name is not null && level is { } lvl && members is not null)
                result.Add(new InitialVolume(new VolumeSpec { Name = name, Level = lvl, Members = members, StripeSizeBytes = stripe, Spares = spares ?? [] }, attach));
        }
        return result;
    }

    static List<string>? DriveList(JsonElement v, string prop, string vat, int driveCount, List<string> errors, bool required)
    {
        if (!v.TryGetProperty(prop, out var d))
        {
            if (required) errors.Add($"{vat}.{prop}: expected an array of drive indices");
            return null;
        }
        if (d.ValueKind != JsonValueKind.Array) { errors.Add($"{vat}.{prop}: expected an array of drive indices"); return null; }
        var names = new List<string>();
        int k = 0;
        foreach (var e in d.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int idx) && idx >= 0 && idx < driveCount) names.Add($"d{idx}");
            else errors.Add($"{vat}.{prop}[{k}]: expected a drive index 0..{driveCount - 1}");
            k++;
        }
        return names;
    }

    static ulong? Number(JsonElement e, string path, List<string> errors)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out ulong v)) return v;
        if (e.ValueKind == JsonValueKind.String)
        {
            if (ModelNumber.TryParse(e.GetString()!, out v, out string? error)) return v;
            errors.Add($"{path}: {error}");
        }
        else errors.Add($"{path}: expected a non-negative integer or a size string such as \"1T\"");
        return null;
    }
}
