"""Field names in other languages: what a key names, when it is not English.

European and Latin-American APIs name fields in their own languages (``fecha_nacimiento``,
``Geburtsdatum``, ``numero_passeport``, ``haslo``). Keys are folded to ASCII first (``keys.py``),
then matched here as whole compacts (stopwords like *de*, *di*, *van* dropped) or by distinctive stems.
Stems are at least five letters so they do not match inside unrelated words; short words match
only whole. Written from the languages (es, de, fr, it, pt, nl, pl), not from any one corpus.
"""

from __future__ import annotations

from typing import Final

# concept -> whole compacts (stopwords removed): the key is exactly this
EXACT: Final[dict[str, set[str]]] = {
    "birth_date": {"nacimiento", "fechanacimiento", "fecnac", "fnac", "fechanac", "geburtsdatum", "geburtstag", "gebdatum",
                   "gebdat", "datumgeburt", "naissance", "datenaissance", "datenaiss", "nele", "nascita", "datanascita",
                   "natoil", "nascimento", "datanascimento", "dtnascimento", "dtnasc", "datanasc", "geboortedatum", "geborenop",
                   "geboortedag", "datumgeboorte", "dataurodzenia", "urodziny", "dataur", "dzienurodzenia", "geburt",
                   "cumpleanos", "aniversario", "compleanno", "verjaardag", "anniversaire", "datebirth", "birthdate", "bornon", "birthdt"},
    "gender": {"genero", "sexo", "geschlecht", "sexe", "sesso", "genere", "geslacht", "sekse", "plec", "genre", "anredegeschlecht", "genderidentity", "sex"},
    "person_name": {"nombre", "apellido", "apellidos", "nombrecompleto", "primerapellido", "segundoapellido", "nombretitular",
                    "vorname", "nachname", "familienname", "zuname", "vollstandigername", "vollername", "namekunde",
                    "kundenname", "prenom", "nomfamille", "nomcomplet", "nomtitulaire", "nomnaissance", "prenomclient", "nom",
                    "nome", "cognome", "nomecompleto", "nominativo", "nomecognome", "cognomecliente", "sobrenome", "apelido",
                    "nometitular", "primeironome", "voornaam", "achternaam", "volledigenaam", "naamklant", "familienaam",
                    "roepnaam", "naam", "imie", "nazwisko", "imienazwisko", "pelneimie", "nazwiskoklienta", "titular"},
    "username": {"usuario", "nombreusuario", "benutzername", "benutzer", "anmeldename", "nomutilisateur", "identifiant",
                 "pseudo", "nomeutente", "utente", "nomeusuario", "utilizador", "gebruikersnaam", "gebruiker",
                 "nazwauzytkownika", "loginuzytkownika", "uzytkownik", "login"},
    "password": {"contrasena", "clave", "clavedeacceso", "claveacceso", "passwort", "kennwort", "neuespasswort",
                 "zugangspasswort", "motpasse", "motdepasse", "mdp", "nouveaumotpasse", "senha", "novasenha", "senhaacesso",
                 "palavrapasse", "wachtwoord", "nieuwwachtwoord", "paswoord", "wachtwoordbevestiging", "haslo", "nowehaslo",
                 "haslouzytkownika", "parolaordine", "parolachiave", "chiaveaccesso", "passwordutente", "nuovapassword"},
    "passport": {"pasaporte", "numpasaporte", "numeropasaporte", "reisepass", "reisepassnummer", "passnummer", "passeport",
                 "numeropasseport", "nopasseport", "passaporto", "numeropassaporto", "passaporte", "numeropassaporte",
                 "numpassaporte", "paspoort", "paspoortnummer", "nummerpaspoort", "paszport", "numerpaszportu", "nrpaszportu",
                 "traveldocumentnumber", "traveldocument"},
    "phone": {"telefono", "movil", "celular", "telefonomovil", "numerotelefono", "telcontacto", "telefon", "handy",
              "telefonnummer", "mobilnummer", "handynummer", "rufnummer", "telephone", "portable", "numerotelephone",
              "telmobile", "numeroportable", "cellulare", "recapitotelefonico", "telefone", "numerotelefone",
              "telemovel", "fone", "telefoon", "mobiel", "telefoonnummer", "mobielnummer", "gsm", "komorka", "numertelefonu",
              "telefonkomorkowy", "nrtel", "tel", "movel", "mobil"},
    "email": {"correo", "correoelectronico", "emailcontacto", "correoelectronicousuario", "emailadresse", "mailadresse",
              "kontaktemail", "courriel", "adresseemail", "adresseelectronique", "mel", "postaelettronica", "indirizzoemail",
              "emailutente", "indirizzoposta", "enderecoemail", "correioeletronico", "emailcontato", "emailadres",
              "mailadres", "emailadresklant", "adresemail", "poczta", "emailkontaktowy"},
    "address": {"direccion", "calle", "domicilio", "direccionpostal", "strasse", "anschrift", "adresse", "strasseundhausnummer",
                "strassehausnummer", "rue", "adressepostale", "domicile", "indirizzo", "indirizzoresidenza", "residenza",
                "endereco", "logradouro", "morada", "rua", "adres", "straat", "straatnaam", "woonadres", "ulica",
                "adreszamieszkania", "adreskorespondencyjny"},
    "iban": {"cuentabancaria", "ibancuenta", "numerocuenta", "bankverbindungiban", "kontonummer", "ibankonto",
             "comptebancaire", "ribiban", "rib", "numerocompte", "contocorrente", "ibanconto", "coordinatebancarie",
             "contabancaria", "ibanconta", "numeroconta", "rekeningnummer", "bankrekening", "ibannummer", "numerrachunku",
             "kontobankowe", "nrkonta", "bankverbindung", "ibannumber"},
    "card": {"numerotarjeta", "tarjeta", "numtarjetacredito", "tarjetacredito", "kartennummer", "kreditkartennummer",
             "kreditkarte", "kartenummer", "numerocarte", "cartebancaire", "numerocartecredit", "numerocarta", "cartacredito",
             "numerocartao", "cartaocredito", "cartao", "kaartnummer", "creditcardnummer", "numerkarty", "kartakredytowa"},
    "national_id": {"dni", "documentoidentidad", "numerodocumento", "cedula", "curp", "ausweisnummer", "personalausweis",
                    "personalausweisnummer", "sozialversicherungsnummer", "svnummer", "svnr", "ahvnummer", "ahv", "avs",
                    "numeroavs", "numerosecuritesociale", "securitesociale", "nir", "codicefiscale", "cf", "codicefiscalecliente",
                    "rg", "numeroidentificacao", "cartaocidadao", "cc", "bsn", "burgerservicenummer", "rijksregisternummer",
                    "sofinummer", "pesel", "numerpesel", "nrdowodu", "dowodosobisty", "nationalid", "nationalidnumber",
                    "nationalinsurancenumber", "nino", "idnumber", "citizenid", "identitynumber", "identitycardnumber",
                    "idcardnumber", "aadhaar", "aadhar", "aadhaarnumber", "sin", "socialinsurancenumber", "nie", "nss",
                    "cartaidentita", "carteidentite", "cni", "identiteitskaart", "documento", "nuip", "dui", "rut", "run",
                    "personnummer", "personalnumber"},
    "tax_id": {"nif", "numerofiscal", "rfc", "identificacionfiscal", "steuerid", "steuernummer", "steueridentifikationsnummer",
               "steuerlicheid", "identifiantfiscal", "partitaiva", "numerocontribuinte", "contribuinte", "cpf", "cpfcliente",
               "fiscaalnummer", "btwnummer", "fiscaalid", "nip", "numernip", "numeridentyfikacjipodatkowej", "pan",
               "pannumber", "panno", "tfn", "taxfilenumber", "cnpj", "cuit", "cuil", "nit", "ruc", "spi", "numerofiscale",
               "codigofiscal", "idfiscal", "taxpayerid", "tin", "taxid", "taxnumber", "vat", "vatnumber", "vatid"},
    "pension": {"pensionnumber", "pensionid", "pensionschememembernumber", "numeroafiliacion", "afiliacion",
                "numeroseguridadsocialpension", "naf", "rentenversicherungsnummer", "rentennummer", "rvnr",
                "numeroretraite", "numeropension", "numeropensione", "posizioneprevidenziale", "numeropensao", "nitpis",
                "pispasep", "pis", "pensioennummer", "pensioenid", "numeremerytury", "nremerytalny", "pensionno",
                "pensionaccount", "pensionreference"},
    "credential": {"tokenacceso", "claveapi", "tokensesion", "autorizacion", "zugangstoken", "apischlussel", "sitzungstoken",
                   "autorisierung", "jeton", "jetonacces", "cleapi", "jetonsession", "tokenaccesso", "chiaveapi", "gettone",
                   "tokenacesso", "chaveapi", "tokensessao", "toegangstoken", "apisleutel", "sessietoken", "tokendostepu",
                   "kluczapi", "tokensesji", "authorization", "authorisation", "auth", "bearer", "credentials", "credential"},
    "text": {"description", "descripcion", "comentario", "mensaje", "observaciones", "beschreibung", "kommentar", "nachricht",
             "bemerkung", "commentaire", "message", "remarque", "remarques", "descrizione", "commento", "messaggio", "note",
             "descricao", "mensagem", "observacoe", "observacao", "omschrijving", "opmerking", "bericht", "toelichting",
             "opis", "komentarz", "wiadomosc", "uwagi", "comment", "notes", "body", "remark", "details", "text", "content",
             "memo", "summary", "feedback", "reason", "subject", "detail"},
}

# concept -> stems found anywhere in the compact (>= 5 letters, distinctive)
STEMS: Final[dict[str, tuple[str, ...]]] = {
    "birth_date": ("nacimiento", "geburt", "naissance", "nascita", "nascimento", "geboorte", "urodzeni", "birthdate", "dateofbirth"),
    "gender": ("geschlecht", "geslacht"),
    "person_name": ("apellido", "vorname", "nachname", "familienname", "cognome", "sobrenome", "voornaam", "achternaam",
                    "nazwisko", "nomcomplet", "nombrecompleto", "nomecompleto", "volledigenaam", "nominativo"),
    "username": ("benutzername", "gebruikersnaam", "nomeutente", "nombreusuario", "nomutilisateur", "uzytkownik"),
    "password": ("contrasena", "passwort", "kennwort", "motdepasse", "motpasse", "wachtwoord", "paswoord", "palavrapasse", "haslo"),
    "passport": ("pasaporte", "reisepass", "passeport", "passaporto", "passaporte", "paspoort", "paszport"),
    "phone": ("telefon", "telephon", "celular", "cellulare", "handynummer", "mobilnummer", "telemovel", "komork", "rufnummer"),
    "email": ("correoelectronico", "courriel", "postaelettronica", "correioeletronico", "mailadres", "emailadres"),
    "address": ("direccionpostal", "anschrift", "indirizzo", "endereco", "logradouro", "woonadres", "adreszamieszkania",
                "strasse", "domicilio"),
    "iban": ("kontonummer", "rekeningnummer", "cuentabancaria", "comptebancaire", "contocorrente", "contabancaria",
             "bankrekening", "rachunku", "coordinatebancarie"),
    "card": ("tarjeta", "kartennummer", "kreditkart", "creditcardnummer", "kaartnummer", "cartaocredito", "cartacredito"),
    "national_id": ("sozialversicherung", "securitesociale", "codicefiscale", "burgerservice", "rijksregister", "personalausweis",
                    "ausweisnummer", "documentoidentidad", "numerodocumento", "nationalid", "nationalinsurance",
                    "identitycard", "aadhaar", "socialinsurance", "cartaocidadao", "dowodosobist", "pesel"),
    "tax_id": ("steuerid", "steuernummer", "steueridentifikation", "partitaiva", "contribuinte", "fiscaalnummer", "identificacionfiscal",
               "identifiantfiscal", "numerofiscal", "podatkow", "taxfilenumber", "taxpayer"),
    "pension": ("pension", "rentenversicherung", "retraite", "previdenz", "pensao", "pensioen", "emerytur", "afiliacion"),
    "credential": ("zugangstoken", "sitzungstoken", "schlussel", "sleutel", "autoriz", "authoriz", "autoris", "jeton"),
    "text": ("descrip", "beschreib", "comment", "kommentar", "messag", "nachricht", "omschrijving", "opmerking"),
}

# Words that are not part of a field's meaning ("fecha de nacimiento" -> "fechanacimiento").
STOPWORDS: Final = frozenset({"de", "di", "du", "da", "do", "del", "della", "der", "des", "of", "the", "e", "y", "und", "et", "van",
                       "d", "le", "la", "el", "il", "lo", "dos", "das"})


# "name of the customer" in any of the languages: a name word next to a word for a person
NAME_WORDS: Final = frozenset({"name", "nombre", "nom", "nome", "naam", "nazwa", "imie", "nazwisko"})
PERSON_WORDS: Final = frozenset(
    """kunde kunden cliente clientes client klant klanten klient klienta usuario utente utilisateur gebruiker uzytkownik
    titular titulaire mitarbeiter empleado dipendente funcionario medewerker pracownik salarie persona person personne
    contacto kontakt contatto contato contact paciente patient patiente passagier pasajero passager passeggero
    passageiro pasazer""".split()
)


def _index(skip: str = "") -> dict[str, str]:
    """compact -> the first concept (in EXACT's order) listing it: one lookup instead of a scan."""
    out: dict[str, str] = {}
    for concept, exact in EXACT.items():
        if concept != skip:
            for compact in exact:
                out.setdefault(compact, concept)
    return out


_EXACT_INDEX: Final = _index()
_TAIL_INDEX: Final = _index(skip="text")  # a tail naming free text says nothing about the key


def concept_of(words: tuple[str, ...]) -> str | None:
    """The concept a key's (ASCII, lower-case) words name in another language, or None."""
    if not words:
        return None
    content = tuple(w for w in words if w not in STOPWORDS) or words
    compact = "".join(content)
    found = _EXACT_INDEX.get(compact)
    if found is not None:
        return found
    if len(content) == 2 and ((content[0] in NAME_WORDS and content[1] in PERSON_WORDS)
                              or (content[1] in NAME_WORDS and content[0] in PERSON_WORDS)):
        return "person_name"
    # a known compact as the key's tail: "cliente_fecha_nacimiento", "kunde_telefonnummer"
    for n in (1, 2, 3):
        if len(content) > n:
            tail = "".join(content[-n:])
            if len(tail) >= 4 and tail in _TAIL_INDEX:
                return _TAIL_INDEX[tail]
    if len(compact) >= 5:
        for concept, stems in STEMS.items():
            for s in stems:
                if s in compact:
                    return concept
    return None
