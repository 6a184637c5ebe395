<?php
// Answers, as JSON on stdout, what the installed Composer's semver library
// (composer/semver) says about the versions and constraints given as JSON
// on stdin: {"versions": [...], "constraints": [...], "pairs": [[version
// index, constraint index], ...]}.
//
// Usage: php semver.php AUTOLOAD < in.json
setlocale(LC_ALL, 'C');
error_reporting(-1);
require $argv[1];

use Composer\Semver\Constraint\Constraint;
use Composer\Semver\VersionParser;

$in = json_decode(stream_get_contents(STDIN), true);
$parser = new VersionParser();
$out = ['normalize' => [], 'stability' => [], 'branch' => [], 'constraints' => [], 'matches' => []];
$normalized = [];
foreach ($in['versions'] as $i => $v) {
    try {
        $normalized[$i] = $parser->normalize($v);
        $out['normalize'][] = ['ok' => true, 'value' => $normalized[$i]];
    } catch (\Exception $e) {
        $normalized[$i] = null;
        $out['normalize'][] = ['ok' => false, 'value' => ''];
    }
    $out['stability'][] = VersionParser::parseStability($v);
    $out['branch'][] = $parser->normalizeBranch($v);
}
$parsed = [];
foreach ($in['constraints'] as $i => $c) {
    try {
        $parsed[$i] = $parser->parseConstraints($c);
        $out['constraints'][] = true;
    } catch (\Exception $e) {
        $parsed[$i] = null;
        $out['constraints'][] = false;
    }
}
foreach ($in['pairs'] as [$v, $c]) {
    if ($normalized[$v] === null || $parsed[$c] === null) {
        $out['matches'][] = null;
        continue;
    }
    $out['matches'][] = $parsed[$c]->matches(new Constraint('==', $normalized[$v]));
}
echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
